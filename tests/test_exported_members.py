"""The public API: ``streamer.__all__`` lists exactly the public names of the package root."""

from __future__ import annotations

import streamer


def test_all_lists_every_public_name_sorted() -> None:
    public = {name for name in vars(streamer) if not name.startswith("_") and name not in {
        "annotations", "logging", "config", "engine", "errors", "frames", "inference", "styles", "buffers", "images",
        "sources", "sinks", "convert", "cli", "bench", "live", "server"}}
    exported = set(streamer.__all__) - {"__version__"}
    assert public == exported
    assert streamer.__all__ == sorted(streamer.__all__)
