"""Live sessions end to end in one process: real engine, real threads, synthetic live source."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.config import Backend, ProcessingSize
from streamer.engine import Engine
from streamer.errors import EngineClosedError, SinkError
from streamer.inference.backends import BackendOptions
from streamer.inference.catalog import find_model_set
from streamer.live import Command, LiveResult, LiveSession, LiveSettings
from streamer.live.inputs import SignalCommands
from streamer.sinks.base import Sink
from streamer.sinks.recording import RecordingSink
from streamer.sources.base import Source
from streamer.styles import StyleRecipe

from ..fakes import InferenceBroke, failing_engine, slow_engine
from ..media import pattern_frame
from .fakes import ListSink, PatternSource

SMALL = ProcessingSize(64)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _engine(model: str) -> Engine:
    return Engine.create(model, BackendOptions(backend=Backend.CPU, threads=2), max_batch=1)


async def _run(engine: Engine, source: Source, sinks: list[Sink], recipe: StyleRecipe,
               **settings: object) -> LiveResult:
    async with engine:
        session = LiveSession(engine, source, sinks, recipe,
                              settings=LiveSettings(size=SMALL, **settings))  # type: ignore[arg-type]
        return await session.run()


def _needs_predictor(model: str) -> None:
    if find_model_set(model).predictor is None:
        pytest.skip(f"model set {model!r} has no style predictor (needed for strength changes)")


def test_session_when_inference_is_slower_than_capture_drops_oldest_and_bounds_latency(
        any_model: str, style_spec: str, no_thread_leaks: None) -> None:
    # given a 30 fps source and inference that takes at least 150 ms per frame
    delay = 0.15
    sink = ListSink()
    source = PatternSource(fps=30.0)
    # when 10 frames have come out
    result = asyncio.run(_run(slow_engine(any_model, delay), source, [sink], StyleRecipe.of(style_spec),
                              capacity=1, max_frames=10))
    snap = result.snapshot
    # then most captured frames were dropped (and counted), never queued
    assert result.error is None and snap.frames_out >= 10
    assert snap.dropped > snap.frames_out
    # every captured frame is accounted for (but the one left in the capture slot at the end)
    assert 0 <= snap.frames_in - (snap.frames_out + snap.dropped) <= 1
    assert snap.max_pending <= 2  # one queued (capacity 1) + one in inference
    # the pipeline never waits for inference: frames are replaced in the engine's queue (where
    # the newest always wins), not left to age in the capture slot. A pipeline that waited would
    # never overflow the engine's queue (capacity 1); on a starved machine the capture slot also
    # replaces frames while the event loop waits for a core, so the share is not asked to be large
    assert snap.dropped_engine > snap.dropped // 4
    # and every frame's latency stays within a few inference periods (a queue would grow)
    assert snap.inference_ms is not None
    inference = snap.inference_ms / 1000.0
    assert inference >= delay
    assert max(result.latencies) <= 3 * inference + 2 / 30.0
    # and the frames that made it are the newest ones, in order
    seqs = [f.seq for f in sink.frames]
    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] > len(seqs)


def test_session_when_several_sinks_each_gets_every_frame_and_recording_is_playable(
        any_model: str, style_spec: str, tmp_path: Path, no_thread_leaks: None) -> None:
    # given a preview-like sink, a recording and another sink at once
    first, second = ListSink("a"), ListSink("b")
    recording = RecordingSink(tmp_path / "rec.mp4")
    source = PatternSource(width=96, height=64, fps=30.0)
    # (sink buffers large enough that no sink thread drops on a loaded machine: a slow sink
    # losing its own oldest frames is the live policy, not what this test is about)
    result = asyncio.run(_run(_engine(any_model), source, [first, recording, second],
                              StyleRecipe.of(style_spec), max_frames=8, sink_capacity=64))
    # then every sink got the same stylized frames, and the recording is finalized
    assert result.error is None and result.reason == "8 frames written"
    assert len(first.frames) >= 8 and [f.seq for f in first.frames] == [f.seq for f in second.frames]
    assert first.opened == first.closed == 1
    assert first.frames[0].image.shape == (64, 96, 3)
    with av.open(str(tmp_path / "rec.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(first.frames)
    # what was recorded is the stylized frame (up to H.264 loss), not the source frame
    to_stylized = _mad(decoded[0], first.frames[0].image)
    to_source = _mad(decoded[0], pattern_frame(first.frames[0].seq, 64, 96))
    assert to_stylized < 16 and to_stylized < to_source / 2


def test_session_when_a_sink_fails_stops_with_its_error(any_model: str, style_spec: str,
                                                         no_thread_leaks: None) -> None:
    healthy, broken = ListSink("healthy"), ListSink("broken", fail_after=2)
    result = asyncio.run(_run(_engine(any_model), PatternSource(fps=30.0), [healthy, broken],
                              StyleRecipe.of(style_spec), duration=60))
    assert isinstance(result.error, SinkError) and str(result.error) == "broken broke"
    assert result.reason == "broken failed"
    assert healthy.closed == broken.closed == 1


def test_session_when_source_ends_finishes_cleanly(any_model: str, style_spec: str,
                                                    no_thread_leaks: None) -> None:
    sink = ListSink()
    result = asyncio.run(_run(_engine(any_model), PatternSource(fps=60.0, stop_after=20), [sink],
                              StyleRecipe.of(style_spec)))
    assert result.reason == "source ended" and result.error is None
    assert result.snapshot.frames_in == 20
    assert sink.frames and sink.closed == 1


def test_session_when_commands_arrive_switches_style_and_strength(
        any_model: str, style_spec: str, second_style: str, no_thread_leaks: None) -> None:
    _needs_predictor(any_model)
    sink = ListSink()

    async def scenario() -> tuple[LiveResult, list[tuple[str, float, int]]]:
        engine = _engine(any_model)
        async with engine:
            session = LiveSession(engine, PatternSource(fps=30.0, static=True), [sink],
                                  StyleRecipe.of(style_spec), cycle=[second_style],
                                  settings=LiveSettings(size=SMALL, duration=60))
            marks: list[tuple[str, float, int]] = []

            async def three_more_frames() -> None:
                seen = len(sink.frames)
                while len(sink.frames) < seen + 3:
                    await asyncio.sleep(0.01)

            async def drive() -> None:
                await three_more_frames()
                marks.append((session.control.style_name, session.control.strength, len(sink.frames)))
                for command in (Command.NEXT_STYLE, Command.WEAKER, Command.WEAKER):
                    before = session.control.label
                    session.command(command)
                    # applied: the control moved on and the stream paints with its recipe (a new
                    # style image is decoded and embedded off the event loop meanwhile)
                    while session.control.label == before or session.stream.recipe != session.control.recipe:
                        await asyncio.sleep(0.01)
                    await three_more_frames()
                    marks.append((session.control.style_name, session.control.strength, len(sink.frames)))
                session.command(Command.STOP)

            driver = asyncio.create_task(drive())
            result = await session.run()
            await driver
            return result, marks

    result, marks = asyncio.run(scenario())
    assert result.reason == "stopped"
    # the frame is static, so the output changes only because the style did
    names = [m[0] for m in marks]
    assert names[0] == Path(style_spec).stem and names[1] == "board"
    assert [m[1] for m in marks] == [1.0, 1.0, 0.9, 0.8]
    # (3 frames after a command was applied, the 2 that may have been in flight with the old style are out)
    first = sink.frames[marks[0][2] - 1].image  # style 1, strength 1
    second = sink.frames[marks[1][2] - 1].image  # style 2, strength 1
    weaker = sink.frames[marks[3][2] - 1].image  # style 2, strength 0.8
    content = pattern_frame(0, 120, 160)
    assert _mad(first, second) > 10
    assert _mad(weaker, content) < _mad(second, content)


def test_session_when_inference_fails_stops_with_the_message(any_model: str, style_spec: str,
                                                              no_thread_leaks: None) -> None:
    # given a live source and an engine whose transform raises on its sixth inference
    sink = ListSink()

    async def bounded() -> LiveResult:
        return await asyncio.wait_for(_run(failing_engine(any_model, good_calls=5), PatternSource(fps=30.0), [sink],
                                           StyleRecipe.of(style_spec), duration=60), 30)

    # when it runs: then it stops soon (not at the 60 s limit) saying why, and the sink is closed
    result = asyncio.run(bounded())
    assert result.reason == "inference failed"
    assert isinstance(result.error, EngineClosedError) and isinstance(result.error.cause, InferenceBroke)
    assert str(result.error).startswith("inference failed: InferenceBroke: interpreter invoke failed")
    assert len(sink.frames) == 5 and sink.closed == 1


def test_session_when_stop_is_requested_among_many_commands_stops_first(any_model: str, style_spec: str,
                                                                        no_thread_leaks: None) -> None:
    # given a running session whose command queue is flooded with style changes
    async def scenario() -> LiveResult:
        async with _engine(any_model) as engine:
            session = LiveSession(engine, PatternSource(fps=30.0), [ListSink()], StyleRecipe.of(style_spec),
                                  settings=LiveSettings(size=SMALL, duration=60))

            async def flood() -> None:
                while session.stream is None:
                    await asyncio.sleep(0.01)
                for _ in range(100):
                    session.command(Command.STRONGER)
                session.request_stop("asked to stop")
                for _ in range(100):  # later commands never push the stop out
                    session.command(Command.WEAKER)

            driver = asyncio.create_task(flood())
            result = await asyncio.wait_for(session.run(), 30)
            await driver
            return result

    # then the stop is honoured, whatever else was queued
    assert asyncio.run(scenario()).reason == "asked to stop"


def test_signals_when_sigusr1_arrives_step_to_the_next_style(no_thread_leaks: None) -> None:
    commands: list[Command] = []

    async def scenario() -> None:
        handler = SignalCommands(commands.append)
        handler.install(asyncio.get_running_loop())
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGUSR2)
            for _ in range(200):
                if len(commands) == 2:
                    break
                await asyncio.sleep(0.01)
        finally:
            handler.uninstall()

    asyncio.run(scenario())
    assert commands == [Command.NEXT_STYLE, Command.WEAKER_WRAP]
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.default_int_handler)


def test_session_when_camera_feeds_a_virtual_camera_and_is_unplugged_ends_clearly(
        any_model: str, style_spec: str, no_thread_leaks: None) -> None:
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    from streamer.errors import SourceEndedError
    from streamer.sinks.vcam import VirtualCameraSink
    from streamer.sources.webcam import WebcamSource

    from .fakes import FakeCapture, FakeVirtualCamera

    # given a (fake) camera that is unplugged after 40 frames, into a (fake-backed) virtual camera
    FakeVirtualCamera.reset()
    pyvirtualcam.register_backend("streamer-session-test", FakeVirtualCamera)
    camera = WebcamSource(0, read_timeout=0.3, capture_factory=FakeCapture.factory(
        frames=40, grant=(96, 64, 30.0)))
    try:
        result = asyncio.run(_run(_engine(any_model), camera, [VirtualCameraSink(backend="streamer-session-test")],
                                  StyleRecipe.of(style_spec)))
    finally:
        pyvirtualcam.camera.BACKENDS.pop("streamer-session-test", None)
    # then the session ends with the camera's message, and the virtual camera got frames and closed
    assert isinstance(result.error, SourceEndedError)
    assert str(result.error) == "camera 0 stopped delivering frames (unplugged?)"
    assert FakeVirtualCamera.opened[0]["width"] == 96 and FakeVirtualCamera.opened[0]["fps"] == 30.0
    assert len(FakeVirtualCamera.sent) >= 1 and FakeVirtualCamera.closed == 1
