"""Frames between aiortc and the engine: conversions, timestamps, and the end of the track."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from streamer.config import QueuePolicy
from streamer.frames import Frame
from streamer.server.tracks import StylizedTrack, frame_from_video
from streamer.styles import StyleRecipe

from ..media import pattern_frame
from .harness import mean_abs_diff, run, started_engine


@pytest.mark.parametrize(("width", "height", "fmt"), [(640, 480, "yuv420p"), (161, 121, "yuv420p"),
                                                       (160, 120, "rgb24"), (96, 64, "nv12")])
def test_frame_from_video_when_any_format_then_rgb_of_same_size(width: int, height: int, fmt: str) -> None:
    rgb = pattern_frame(2, height, width)
    video = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    video.pts, video.time_base = 3000, Fraction(1, 90_000)
    frame = frame_from_video(video, seq=7)
    assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
    assert (frame.seq, frame.pts, frame.time) == (7, 3000, pytest.approx(1 / 30))
    # the picture it was made from: exactly for RGB, within the chroma loss of 4:2:0 otherwise
    # (colours swapped or planes misread would be 30 or more off)
    assert mean_abs_diff(frame.image, rgb) <= (0.0 if fmt == "rgb24" else 5.0)


def test_stylized_track_when_frames_arrive_then_sent_with_their_timing_until_closed(model: str) -> None:
    async def scenario() -> list[tuple[int, int, int]]:
        async with started_engine(model) as engine:
            stream = engine.open_stream("track", QueuePolicy.LATEST, capacity=1, results=1)
            await stream.set_style(StyleRecipe(()))  # frames pass through: the track is under test
            track = StylizedTrack(stream)
            sent = []
            for pts, (h, w) in [(0, (120, 160)), (6000, (121, 161)), (6000, (120, 160)), (9000, (120, 160))]:
                await stream.submit(Frame(pattern_frame(pts, h, w), pts=pts, time_base=Fraction(1, 90_000)))
                video = await track.recv()
                assert video.time_base == Fraction(1, 90_000)
                sent.append((video.pts, video.height, video.width))
            stream.close()
            with pytest.raises(MediaStreamError):
                await track.recv()
            assert track.readyState == "ended" and stream.meters.frames_out.count == 4
            assert track.first_pts == 0 and stream.meters.latency.percentile(50) is not None
            return sent

    sent = run(scenario())
    # timestamps kept, forced to increase when a source repeats one; every size passes through
    assert sent == [(0, 120, 160), (6000, 121, 161), (6001, 120, 160), (9000, 120, 160)]
