"""Reader and writer threads: priority, pixel conversions, clean close."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.frames import Frame
from streamer.pixels import rgb_from_video, video_from_rgb
from streamer.sources.media import MediaReader

from .media import make_clip, pattern_frame


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
def test_reader_thread_runs_below_inference_priority(tmp_path: Path, no_thread_leaks: None) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=20)
    reader = MediaReader(clip, buffer=1)
    reader.open()
    reader.start()
    try:
        deadline = time.monotonic() + 5
        thread = None
        while thread is None and time.monotonic() < deadline:
            thread = next((t for t in threading.enumerate() if t.name == "streamer-demux"), None)
        assert thread is not None and thread.native_id is not None
        time.sleep(0.1)  # let it lower its own priority and fill its one-frame buffer
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) > os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        reader.close()


def test_reader_when_closed_midway_stops_its_thread(tmp_path: Path, no_thread_leaks: None) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=30)

    async def read_some() -> int:
        reader = MediaReader(clip, buffer=2)
        reader.open()
        reader.start()
        count = 0
        async for item in reader.items():
            count += isinstance(item, Frame)
            if count == 3:
                break
        reader.close()
        return count

    assert asyncio.run(read_some()) == 3


@pytest.mark.parametrize(("width", "height"), [(64, 48), (63, 47)])
def test_pixel_conversions_round_trip_as_well_as_ffmpeg(width: int, height: int) -> None:
    """RGB -> 4:2:0 -> RGB loses chroma detail; ours may not lose more than FFmpeg's swscale."""
    image = pattern_frame(3, height, width).astype(int)
    ffmpeg = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24").reformat(format="yuv420p")
    ffmpeg_error = np.abs(ffmpeg.to_ndarray(format="rgb24") - image).mean()
    back = rgb_from_video(video_from_rgb(image.astype(np.uint8)).reformat(format="yuv420p"))
    assert back.shape == image.shape
    assert np.abs(back - image).mean() <= ffmpeg_error + 0.5
