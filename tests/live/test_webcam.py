"""The camera source, on a fake capture (these machines have no camera) and on a real one
where there is one."""

from __future__ import annotations

import glob
import os

import cv2
import numpy as np
import pytest

from streamer.errors import ConfigError, SourceEndedError, SourceOpenError
from streamer.sources.webcam import WebcamSource, camera_device

from .fakes import FakeCapture


def test_camera_device_when_given_index_or_path_recognizes_them() -> None:
    assert camera_device("0") == 0
    assert camera_device(" 2 ") == 2
    assert camera_device("/dev/video2") == "/dev/video2"
    assert camera_device("rtsp://cam/0") is None
    assert camera_device("clip.mp4") is None


def test_webcam_when_mode_is_granted_differently_reports_it() -> None:
    # given a camera asked for 1280x720 @ 60 that can only do 640x480 @ 30
    source = WebcamSource(0, width=1280, height=720, fps=60,
                          capture_factory=FakeCapture.factory(grant=(640, 480, 30.0)))
    info = source.open()
    capture = FakeCapture.instances[-1]
    source.close()
    # then the request reached the camera and the note says what was granted
    assert capture.requested[cv2.CAP_PROP_FRAME_WIDTH] == 1280
    assert capture.requested[cv2.CAP_PROP_FPS] == 60
    assert (info.width, info.height, info.fps) == (640, 480, 30.0)
    assert info.notes == ("camera 0: asked for 1280x720 @ 60 fps, the camera gave 640x480 @ 30 fps",)
    assert capture.released


def test_webcam_when_reading_delivers_rgb_frames_in_sequence() -> None:
    source = WebcamSource("/dev/video7", capture_factory=FakeCapture.factory(grant=(64, 48, 30.0)))
    info = source.open()
    frames = [source.read() for _ in range(3)]
    source.close()
    assert info.notes == ()
    assert [f.seq for f in frames] == [0, 1, 2]
    # the fake camera sends BGR of a known pattern: the source must hand out RGB
    from ..media import pattern_frame

    assert np.array_equal(frames[0].image, pattern_frame(1, 48, 64))


def test_webcam_when_unplugged_ends_with_a_clear_message() -> None:
    source = WebcamSource(1, read_timeout=0.2, capture_factory=FakeCapture.factory(frames=3))
    source.open()
    for _ in range(3):
        source.read()
    with pytest.raises(SourceEndedError, match=r"^camera 1 stopped delivering frames \(unplugged\?\)$"):
        source.read()
    source.close()


def test_webcam_when_device_cannot_open_says_so() -> None:
    source = WebcamSource(5, capture_factory=FakeCapture.factory(opened=False))
    with pytest.raises(SourceOpenError, match="cannot open camera 5: no such camera, or it is busy"):
        source.open()
    assert FakeCapture.instances[-1].released


def test_webcam_when_opened_but_silent_refuses() -> None:
    source = WebcamSource(0, capture_factory=FakeCapture.factory(frames=0))
    with pytest.raises(SourceOpenError, match="opened but delivers no frames"):
        source.open()


def test_webcam_when_only_width_given_refuses() -> None:
    with pytest.raises(ConfigError, match="both a camera width and height"):
        WebcamSource(0, width=640)


def _real_camera() -> str | None:
    for device in sorted(glob.glob("/dev/video*")):
        if os.access(device, os.R_OK | os.W_OK):
            return device
    return None


@pytest.mark.slow
def test_webcam_when_a_real_camera_exists_reads_frames() -> None:
    device = _real_camera()
    if device is None:
        pytest.skip("no camera on this machine (no readable /dev/video* device)")
    source = WebcamSource(device, read_timeout=5.0)
    try:
        info = source.open()
    except SourceOpenError as exc:
        pytest.skip(f"{device} is not a capture device here: {exc}")
    frame = source.read()
    source.close()
    assert frame.image.shape == (info.height, info.width, 3)
