"""The public API: ``streamer.__all__`` lists exactly the public names of the package root."""

from __future__ import annotations

import types

import streamer


def test_all_lists_every_public_name_sorted() -> None:
    public = {name for name, value in vars(streamer).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert public == set(streamer.__all__) - {"__version__"}
    assert streamer.__all__ == sorted(streamer.__all__)
