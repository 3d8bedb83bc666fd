"""The decode + encode runs of ``streamer bench`` (the bound of ``convert``'s non-inference work)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import numpy as np

from streamer.bench import _io_only
from streamer.sinks.file import EncoderSettings
from streamer.sources.synthetic import write_clip


def _pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_io_only_when_given_stylized_pictures_then_encodes_those_at_the_clip_size(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=5, width=96, height=64)
    source = _pictures(clip)
    # half-size pictures, as convert hands them to its writer; each a different flat colour
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 30), (30, 220, 220)]
    images = [np.full((32, 48, 3), c, np.uint8) for c in colours]
    assert asyncio.run(_io_only(clip, tmp_path / "out.mp4", EncoderSettings(), images)) > 0
    written = _pictures(tmp_path / "out.mp4")
    assert len(written) == len(source) == 5
    for picture, colour in zip(written, colours, strict=True):
        assert picture.shape == (64, 96, 3)
        assert np.abs(picture.reshape(-1, 3).mean(axis=0) - colour).max() < 8
    # without pictures it re-encodes the clip's own frames
    asyncio.run(_io_only(clip, tmp_path / "plain.mp4", EncoderSettings()))
    plain = _pictures(tmp_path / "plain.mp4")
    assert all(np.abs(a.astype(int) - b).mean() < 8 for a, b in zip(plain, source, strict=True))
