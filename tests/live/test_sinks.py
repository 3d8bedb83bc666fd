"""Live sinks: virtual camera (fake pyvirtualcam backend), preview window (fake HighGUI),
RTSP publishing errors, recording with audio."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.errors import ConfigError, SinkError
from streamer.frames import Frame
from streamer.sinks.base import Sink, SinkClosed, fit, fit_even
from streamer.sinks.preview import PreviewSink, default_gui, gui_problem
from streamer.sinks.recording import RecordingSink
from streamer.sinks.rtsp import RtspSink
from streamer.sinks.tkwindow import TkGui
from streamer.sinks.vcam import VirtualCameraSink
from streamer.sources.base import SourceInfo

from ..media import pattern_frame
from .fakes import FakeGui, FakeVirtualCamera
from .servers import free_port

INFO = SourceInfo("test", 64, 48, 25.0)


def _frames(count: int, width: int = 64, height: int = 48) -> list[Frame]:
    return [Frame(pattern_frame(i, height, width), pts=i * 3600, time_base=Fraction(1, 90000), seq=i)
            for i in range(count)]


def _play(sink: Sink, frames: list[Frame]) -> list[Frame]:
    """Check, open, write ``frames`` to and close ``sink``, as a session would."""
    sink.check()
    sink.open(frames[0], INFO)
    for frame in frames:
        sink.write(frame)
    sink.close()
    return frames


@pytest.fixture
def fake_vcam_backend() -> Iterator[str]:
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    FakeVirtualCamera.reset()
    pyvirtualcam.register_backend("streamer-test", FakeVirtualCamera)
    try:
        yield "streamer-test"
    finally:
        pyvirtualcam.camera.BACKENDS.pop("streamer-test", None)


def test_vcam_when_backend_works_sends_every_frame(fake_vcam_backend: str) -> None:
    # given the virtual camera sink on a (fake) pyvirtualcam backend
    sink = VirtualCameraSink(backend=fake_vcam_backend)
    # when frames are written through pyvirtualcam's Camera
    frames = _play(sink, _frames(3))
    # then the camera was opened at the frames' size and rate, got each frame, and was closed
    assert FakeVirtualCamera.opened == [{"width": 64, "height": 48, "fps": 25.0, "device": None}]
    assert len(FakeVirtualCamera.sent) == 3
    assert np.array_equal(FakeVirtualCamera.sent[2], frames[2].image)
    assert FakeVirtualCamera.closed == 1


def test_vcam_when_frame_size_changes_keeps_the_camera_size(fake_vcam_backend: str) -> None:
    sink = VirtualCameraSink(backend=fake_vcam_backend)
    sink.open(_frames(1)[0], INFO)
    sink.write(_frames(1, width=128, height=96)[0])  # the source reconnected at another size
    sink.close()
    assert FakeVirtualCamera.sent[0].shape == (48, 64, 3)


def test_vcam_when_v4l2loopback_is_absent_names_what_to_install() -> None:
    pytest.importorskip("pyvirtualcam")
    if glob.glob("/sys/devices/virtual/video4linux/video*/name"):
        pytest.skip("this machine has v4l2loopback devices")
    with pytest.raises(SinkError, match="v4l2loopback is not loaded.*apt install v4l2loopback-dkms"):
        VirtualCameraSink().check()
    # and pyvirtualcam's own backend, tried anyway, fails with the same advice
    sink = VirtualCameraSink(backend="v4l2loopback")
    sink.check()
    with pytest.raises(SinkError, match=r"cannot open a virtual camera .*modprobe v4l2loopback"):
        sink.open(_frames(1)[0], INFO)


def test_vcam_when_backend_is_unknown_refuses() -> None:
    pytest.importorskip("pyvirtualcam")
    with pytest.raises(SinkError, match="no virtual camera backend 'nope'"):
        VirtualCameraSink(backend="nope").check()


def test_preview_when_keys_are_pressed_hands_them_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a window (on a display) in which "n" and "+" are pressed
    monkeypatch.setenv("DISPLAY", ":99")
    gui = FakeGui(keys="n+")
    keys: list[str] = []
    frames = _play(PreviewSink("test", on_key=keys.append, gui=gui), _frames(2))
    # then each key reached on_key, and the frames were shown as BGR
    assert keys == ["n", "+"]
    assert np.array_equal(gui.shown[0], frames[0].image[..., ::-1])
    assert gui.destroyed


def test_preview_when_window_is_closed_asks_to_stop() -> None:
    gui = FakeGui(close_after=1)
    sink = PreviewSink("test", gui=gui)
    sink.open(_frames(1)[0], INFO)
    with pytest.raises(SinkClosed, match="preview window closed"):
        sink.write(_frames(1)[0])


def test_preview_when_opencv_is_headless_or_tk_or_display_is_missing_says_what_to_do() -> None:
    class Headless:
        @staticmethod
        def getBuildInformation() -> str:  # noqa: N802
            return "  GUI:                           NONE\n"

    assert gui_problem(Headless, {"DISPLAY": ":0"}) == "this OpenCV has no GUI support (opencv-python-headless)"
    assert gui_problem(TkGui(), {"DISPLAY": ":0"}, tk_missing="no Tk (install python3-tk)") == \
        "no Tk (install python3-tk)"
    assert gui_problem(TkGui(), {}, platform="linux", tk_missing="") == \
        "no display to show the preview window on (DISPLAY is not set)"
    assert gui_problem(FakeGui(), {}, platform="linux") == \
        "no display to show the preview window on (DISPLAY is not set)"
    assert gui_problem(FakeGui(), {"DISPLAY": ":0"}, platform="linux") is None


def test_preview_default_when_opencv_is_headless_is_a_tk_window() -> None:
    """The package depends on opencv-python-headless only; the preview draws with Tk then."""
    import cv2

    from streamer.sinks.preview import has_highgui

    assert isinstance(default_gui(), TkGui) is (not has_highgui(cv2))


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private X server (Xvfb) for a real window; skips when Xvfb or Tk is missing."""
    import shutil
    import subprocess

    pytest.importorskip("tkinter")
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian: apt install xvfb)")
    read, write = __import__("os").pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    __import__("os").close(write)
    try:
        with open(read, "rb") as pipe:
            number = pipe.readline().strip().decode()
        assert number, "Xvfb did not report its display"
        monkeypatch.setenv("DISPLAY", f":{number}")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def test_preview_tk_window_when_shown_displays_frames_and_forwards_keys(x_display: str) -> None:
    """A real Tk window on a private X server, driven from a thread like the sink's."""
    import threading

    keys: list[str] = []
    gui = TkGui()
    sink = PreviewSink("test", on_key=keys.append, gui=gui)
    frames = _frames(2)
    seen: list[tuple[int, int, int]] = []
    failure: list[BaseException] = []

    def play() -> None:
        try:
            sink.check()
            sink.open(frames[0], INFO)
            sink.write(frames[0])
            seen.append(tuple(int(v) for v in gui._photo.get(5, 7)))  # what Tk draws
            gui._root.focus_force()
            gui._root.event_generate("<KeyPress>", keysym="n", when="tail")  # as if typed
            sink.write(frames[1])
            sink.idle()
            sink.close()
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=play)
    thread.start()
    thread.join(30)
    assert not failure, failure
    assert seen == [tuple(int(v) for v in frames[0].image[7, 5])]  # the RGB pixel, not BGR
    assert keys == ["n"]
    assert gui.getWindowProperty("test", 0) == 0.0  # closed


def test_rtsp_sink_when_nobody_listens_raises_sink_error() -> None:
    sink = RtspSink(f"rtsp://user:pw@127.0.0.1:{free_port()}/styled", timeout=2.0)
    with pytest.raises(SinkError) as caught:
        sink.open(_frames(1)[0], INFO)
    assert "cannot publish to rtsp://***@127.0.0.1" in str(caught.value)
    assert "pw" not in str(caught.value)
    sink.close()


def test_rtsp_sink_when_url_is_not_rtsp_refuses() -> None:
    with pytest.raises(ConfigError, match="not an rtsp:// URL"):
        RtspSink("rtmp://127.0.0.1/live")


def test_recording_when_closed_is_finalized_with_audio(tmp_path: Path) -> None:
    # given an input with audio, whose audio template the source would hand over
    from ..media import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=10, width=64, height=48, fps=10, audio="aac")
    with av.open(str(clip)) as container:
        audio = container.streams.audio[0]
        packets = [p for p in container.demux(audio) if p.size]
        info = SourceInfo("in.mp4", 64, 48, 10.0, audio=audio)
        sink = RecordingSink(tmp_path / "rec.mp4")
        sink.check()
        frames = _frames(10)
        sink.open(frames[0], info)
        from streamer.sources.base import AudioPacket

        for packet in packets:
            sink.write_audio(AudioPacket(packet, float((packet.pts or 0) * packet.time_base)))
        for frame in frames:
            sink.write(frame)
        sink.close()
    # then the file is in place (no temporary left) with both streams
    assert sink.saved == tmp_path / "rec.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "rec.mp4"]
    with av.open(str(sink.saved)) as result:
        assert sum(1 for _ in result.decode(video=0)) == 10
        assert result.streams.audio[0].codec_context.name == "aac"


def test_recording_when_folder_is_missing_refuses_early(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        RecordingSink(tmp_path / "no" / "rec.mp4").check()


def test_fit_helpers() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    assert fit(image, 64, 48) is image
    assert fit(image, 32, 24).shape == (24, 32, 3)
    assert fit_even(641, 481) == (640, 480)
