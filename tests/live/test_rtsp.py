"""Against a real RTSP server (gst-rtsp-server on 127.0.0.1): reading, publishing, faults."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.config import Backend, ProcessingSize, QueuePolicy
from streamer.engine import Engine
from streamer.frames import Frame
from streamer.inference.backends import BackendOptions
from streamer.live import LiveSession, LiveSettings
from streamer.sinks.rtsp import RtspSink
from streamer.sources.stream import StreamSource
from streamer.styles import StyleRecipe

from ..media import make_clip
from .fakes import ListSink
from .servers import RtspServer

pytestmark = [pytest.mark.slow, pytest.mark.rtsp, pytest.mark.timeout(180)]

SIZE = ProcessingSize(240)  # the test pattern is 320x240: stylized at its own resolution


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _read_frames(url: str, count: int, skip_black: bool = False, limit: int = 600) -> list[np.ndarray]:
    """A separate client: the first ``count`` frames of ``url`` (RGB)."""
    frames: list[np.ndarray] = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
        for seen, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            if not (skip_black and image.mean() < 4):
                frames.append(image)
            if len(frames) >= count or seen >= limit:
                break
    return frames


async def _until(check: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def _stylize(model: str, image: np.ndarray, style: str) -> np.ndarray:
    async with Engine.create(model, BackendOptions(backend=Backend.CPU, threads=2)) as engine:
        stream = engine.open_stream("reference", QueuePolicy.LOSSLESS, size=SIZE)
        await stream.set_style(await engine.styles.embedding(style))
        return (await stream.stylize(Frame(image))).image


@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_rtsp_when_stream_is_stylized_and_published_a_client_sees_the_stylized_stream(
        rtsp_server: RtspServer, any_model: str, style_spec: str, tmp_path: Path) -> None:
    # given `streamer live` reading the server's test pattern and publishing back to it
    stats = tmp_path / "stats.json"
    command = [sys.executable, "-m", "streamer", "live", "-i", rtsp_server.url("pattern"),
               "--model", any_model, "--backend", "cpu", "--style", style_spec, "--size", "240",
               "-o", rtsp_server.url("publish"), "--duration", "120", "--stats-json", str(stats)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # when a separate client reads what the server re-serves
        received = _read_frames(rtsp_server.url("styled"), count=5, skip_black=True)
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert len(received) == 5, "the styled stream never showed a frame"
    # then every frame is the engine's stylization of the (static) pattern, up to the loss of
    # two H.264 encodes, and far from the pattern itself
    source = _read_frames(rtsp_server.url("pattern"), count=1)[0]
    expected = asyncio.run(_stylize(any_model, source, style_spec))
    to_expected = max(_mad(frame, expected) for frame in received)
    to_source = min(_mad(frame, source) for frame in received)
    assert to_expected < 15 and to_expected < to_source / 3, (to_expected, to_source)
    assert "stopped:" in errors and stats.is_file()


def _session(model: str, style: str, source: StreamSource, sinks: list, **settings: object) -> LiveSession:
    engine = Engine.create(model, BackendOptions(backend=Backend.CPU, threads=2), max_batch=1)
    return LiveSession(engine, source, sinks, StyleRecipe.of(style),
                       settings=LiveSettings(size=SIZE, duration=150, **settings))  # type: ignore[arg-type]


async def _running(session: LiveSession, scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``session`` and ``scenario`` side by side; stop the session when the scenario ends."""
    async with session.engine:
        task = asyncio.create_task(session.run())
        try:
            await scenario()
        finally:
            session.request_stop("test over")
            result = await task
    assert result.reason == "test over", result


def test_rtsp_when_server_restarts_mid_stream_pipeline_resumes(
        rtsp_server: RtspServer, any_model: str, style_spec: str, no_thread_leaks: None) -> None:
    # given a session reading from the server and publishing back to it
    out = ListSink()
    publish = RtspSink(rtsp_server.url("publish"))
    source = StreamSource(rtsp_server.url("pattern"), open_timeout=3, read_timeout=2)
    session = _session(any_model, style_spec, source, [out, publish], retry_for=60)
    capture = session.capture
    timings: dict[str, float] = {}

    async def scenario() -> None:
        assert await _until(lambda: len(out.frames) >= 5, 60), "no frames before the restart"
        # when the server dies and comes back on the same port
        rtsp_server.kill()
        assert await asyncio.to_thread(capture.wait_for, lambda c: c.disconnects >= 1, 30)
        before = len(out.frames)
        await asyncio.to_thread(rtsp_server.start)
        restarted = time.monotonic()
        # then frames flow again, read from the new server and published to it
        assert await _until(lambda: out.frames[-1].captured_at > restarted, 60), "the pipeline did not resume"
        timings["resume_s"] = time.monotonic() - restarted  # to the first new frame out
        assert await _until(lambda: len(out.frames) >= before + 5, 60)
        published = session.runners[1]
        written = published.written
        assert await _until(lambda: published.written > written + 3, 60), "publishing did not resume"

    asyncio.run(_running(session, scenario))
    assert capture.reconnects >= 1
    assert session.runners[1].reopens >= 1
    print(f"resumed {timings['resume_s']:.2f} s after the server came back")
    assert timings["resume_s"] < 5.0  # by design: reconnect backoff is capped at 1 s


def test_rtsp_when_server_freezes_read_times_out_says_so_and_recovers(
        rtsp_server: RtspServer, any_model: str, style_spec: str, no_thread_leaks: None) -> None:
    # given a session reading the pattern with a 1 s read timeout (opening may take longer on a
    # loaded machine: the server answers from a thread of this test process)
    out = ListSink()
    source = StreamSource(rtsp_server.url("pattern"), open_timeout=10, read_timeout=1)
    session = _session(any_model, style_spec, source, [out], retry_for=60)
    capture = session.capture
    messages: list[str] = []

    async def scenario() -> None:
        assert await _until(lambda: len(out.frames) >= 3, 60)
        # when the server stops sending but keeps the connection open
        rtsp_server.pause()
        try:
            assert await asyncio.to_thread(capture.wait_for, lambda c: c.disconnects >= 1, 30)
            messages.append(capture.last_error or "")
        finally:
            rtsp_server.resume()
        before = len(out.frames)
        # then, once it sends again, the session reconnects and goes on
        assert await _until(lambda: len(out.frames) >= before + 3, 60)

    asyncio.run(_running(session, scenario))
    assert messages == [f"{rtsp_server.url('pattern')}: no data for 1 s"]
    assert capture.reconnects >= 1


def test_rtsp_when_reading_over_udp_gets_frames(rtsp_server: RtspServer) -> None:
    source = StreamSource(rtsp_server.url("pattern"), transport="udp", open_timeout=5, read_timeout=5)
    info = source.open()
    frames = [source.read() for _ in range(5)]
    source.close()
    assert (info.width, info.height, info.reconnectable) == (320, 240, True)
    assert all(f.image.shape == (240, 320, 3) for f in frames)


def test_rtsp_when_recording_a_stream_with_audio_keeps_the_audio(
        tmp_path: Path, any_model: str, style_spec: str) -> None:
    from .conftest import _rtsp_problem

    if (problem := _rtsp_problem()) is not None:
        pytest.skip(problem)
    # given a server playing a clip with H.264 video and AAC audio
    clip = make_clip(tmp_path / "talk.mp4", frames=150, width=160, height=120, fps=30, audio="aac",
                     audio_rate=48000)
    server = RtspServer(clip=clip)
    server.start()
    recording = tmp_path / "rec.mp4"
    try:
        # when `streamer live` records the stylized stream for a few seconds
        done = subprocess.run(
            [sys.executable, "-m", "streamer", "live", "-i", server.url("clip"), "--model", any_model,
             "--backend", "cpu", "--style", style_spec, "--size", "120", "-o", str(recording),
             "--duration", "3"], capture_output=True, text=True, timeout=120)
    finally:
        server.kill()
    assert done.returncode == 0, done.stderr
    # then the recording has stylized video and the source's audio, untouched
    with av.open(str(recording)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (160, 120)
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 48000
        assert sum(1 for p in container.demux(audio) if p.size) > 30
