"""`streamer live` and `streamer devices` from the command line: clean stops, clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from streamer.cli import main

from ..media import make_clip
from .servers import SilentServer


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", frames=30, width=96, height=64, fps=15, audio="aac")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["-i", "nope.mp4", "--style", "x", "--show"], "no such camera, URL or file: nope.mp4"),
    (["-i", "{clip}", "--style", "x"], "give an output: --show, -o FILE"),
    (["-i", "{clip}", "--style", "x", "-o", "rtmp://127.0.0.1/live"], "cannot publish to rtmp://"),
    (["-i", "{clip}", "--style", "x", "-o", "{clip}"], "the recording would overwrite the input"),
    (["-i", "{clip}", "--style", "x", "-o", "{tmp}/missing/rec.mp4"], "folder"),
    (["-i", "{clip}", "--style", "x", "--show"], "cannot show the preview: "),
    (["-i", "0", "--style", "x", "--show", "--loop"], "do not apply to cameras"),
    (["-i", "{clip}", "--style", "x", "--camera-fps", "30", "-o", "{tmp}/r.mp4"], "only apply to cameras"),
    (["-i", "{clip}", "--style", "x", "-o", "rtsp://127.0.0.1/x", "--crf", "99"], "--crf must be"),
])
def test_live_when_arguments_are_wrong_fails_with_one_line(
        argv: list[str], message: str, clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    args = [a.format(clip=clip, tmp=tmp_path) for a in argv]
    assert main(["live", *args]) == 1
    line = _error_line(capsys)
    assert line.startswith("streamer: error: ") and message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # nothing half-written


def test_live_when_virtual_camera_is_missing_names_v4l2loopback(
        clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyvirtualcam")
    import glob

    if glob.glob("/sys/devices/virtual/video4linux/video*/name"):
        pytest.skip("this machine has v4l2loopback devices")
    assert main(["live", "-i", str(clip), "--style", "x", "--vcam"]) == 1
    assert "v4l2loopback" in _error_line(capsys)


def test_live_when_source_never_answers_times_out_with_one_line(
        silent_server: SilentServer, any_model: str, style_spec: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"rtsp://viewer:pw@127.0.0.1:{silent_server.port}/cam"
    code = main(["live", "-i", url, "--model", any_model, "--backend", "cpu", "--style", style_spec,
                 "--open-timeout", "1", "-o", str(tmp_path / "rec.mp4")])
    assert code == 1
    assert _error_line(capsys) == \
        f"streamer: error: rtsp://***@127.0.0.1:{silent_server.port}/cam: no answer within 1 s"
    assert list(tmp_path.iterdir()) == []


def test_devices_when_run_lists_cameras_or_says_there_are_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "no cameras found" or ": " in out
    assert main(["devices", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)


def _wait_for_output(stats: Path, process: subprocess.Popen[str], frames: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads(stats.read_text())["frames_out"] >= frames:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no {frames} frames out in {timeout} s")


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_live_when_interrupted_leaves_a_finalized_playable_recording(
        clip: Path, tmp_path: Path, any_model: str, style_spec: str) -> None:
    # given `streamer live` recording a looping file
    recording, stats = tmp_path / "rec.mp4", tmp_path / "stats.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "streamer", "live", "-i", str(clip), "--loop", "--model", any_model,
         "--backend", "cpu", "--style", style_spec, "--size", "64", "-o", str(recording),
         "--stats-json", str(stats)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_output(stats, process, frames=5, timeout=60)
    finally:
        # when the user presses Ctrl-C
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    # then it stops cleanly and the recording is complete: every frame and the audio decode
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "recording saved" in errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "rec.mp4", "stats.json"]
    with av.open(str(recording)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(recording)) as container:
        audio = [p for p in container.demux(audio=0) if p.size]
    assert frames >= 5 and len(audio) > 0
    assert json.loads(stats.read_text())["state"] == "ended"
