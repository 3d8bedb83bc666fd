"""Inference in a process of its own (``Engine.create(inference_process=...)``): same pictures as
on the thread, the child's death reaches the callers, nothing is left behind."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from streamer import Engine, Frame, ProcessingSize, QueuePolicy
from streamer.engine import EngineState
from streamer.errors import BackendUnavailableError, EngineClosedError
from streamer.inference.backends import BackendOptions, BackendReport
from streamer.inference.process import ProcessPriority

from .media import pattern_frame

ROOT = Path(__file__).resolve().parents[1]
SHM = Path("/dev/shm")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and /dev/shm (Linux)")


def engine_with(model: str, process: ProcessPriority | None, backend: str = "cpu") -> Engine:
    return Engine.create(model, BackendOptions(backend=backend, threads=2), max_batch=4, use_disk_cache=False,
                         inference_process=process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def segments() -> set[str]:
    """Shared memory blocks made by Python's ``SharedMemory``."""
    return {p.name for p in SHM.glob("psm_*")}


async def stylize_some(engine: Engine, n: int = 6) -> tuple[np.ndarray, list[np.ndarray], float]:
    """Embed a 12-megapixel style image, stylize ``n`` 640x480 frames (two streams, so they run
    in batches); return the embedding, the pictures and the inference process's CPU seconds."""
    pid = engine.inference_pid
    assert pid is not None
    image, frames = pattern_frame(7, 4000, 3000), [Frame(pattern_frame(i, 480, 640), seq=i) for i in range(n)]
    before = cpu_seconds(pid)
    style = await engine.embed_image(image)
    streams = [engine.open_stream(f"s{i}", QueuePolicy.LOSSLESS, size=ProcessingSize(128)) for i in range(2)]
    for stream in streams:
        await stream.set_style(style)
    futures = [await streams[i % 2].submit(frame) for i, frame in enumerate(frames)]
    pictures = [(await asyncio.wrap_future(f)).image for f in futures]
    return style, pictures, cpu_seconds(pid) - before


def test_inference_process_when_given_the_same_frames_paints_what_the_thread_paints(any_model: str) -> None:
    async def main(process: ProcessPriority | None) -> tuple[np.ndarray, list[np.ndarray], float, BackendReport, int]:
        async with engine_with(any_model, process) as engine:
            style, pictures, child_cpu = await stylize_some(engine)
            return style, pictures, child_cpu, engine.report, await engine.predictor_runs()

    style, pictures, thread_cpu, report, _ = asyncio.run(main(None))
    p_style, p_pictures, child_cpu, p_report, runs = asyncio.run(main(ProcessPriority.IDLE))
    assert np.array_equal(style, p_style)
    assert len(p_pictures) == len(pictures)
    assert all(np.array_equal(a, b) for a, b in zip(pictures, p_pictures, strict=True))
    # backend, precision and every reason, as the thread reports them (the child reuses the
    # thread's measured CPU precision: "measured now" there, "cached" here)
    assert dataclasses.replace(p_report, precision_reason=None) == dataclasses.replace(report, precision_reason=None)
    assert [(r.precision_reason or "").split(" (measured")[0] for r in (p_report, report)] == \
        [(report.precision_reason or "").split(" (measured")[0]] * 2
    assert runs == 1
    assert child_cpu > 0.5 * thread_cpu, (f"the child used {child_cpu:.2f} s of CPU for what took this "
                                          f"process {thread_cpu:.2f} s: it did not run the models")


def test_inference_process_when_idle_priority_runs_every_thread_at_sched_idle(any_model: str) -> None:
    async def main() -> list[int]:
        async with engine_with(any_model, ProcessPriority.IDLE) as engine:
            await stylize_some(engine, 2)
            pid = engine.inference_pid
            assert pid is not None and pid != os.getpid()
            return [os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]

    policies = asyncio.run(main())
    assert len(policies) > 1 and set(policies) == {os.SCHED_IDLE}


def test_inference_process_when_killed_fails_the_engine_and_its_callers_with_the_reason(any_model: str) -> None:
    async def main() -> tuple[EngineState, str, str]:
        async with engine_with(any_model, ProcessPriority.IDLE) as engine:
            style, _, _ = await stylize_some(engine, 2)
            stream = engine.open_stream("after", QueuePolicy.LOSSLESS, size=ProcessingSize(128))
            await stream.set_style(style)
            pid = engine.inference_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while engine.state is not EngineState.FAILED and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            state = engine.state
            with pytest.raises(EngineClosedError) as frame_error:
                await stream.stylize(Frame(pattern_frame(0, 48, 64)))
            with pytest.raises(EngineClosedError) as open_error:
                engine.open_stream("late")
            return state, str(frame_error.value), str(open_error.value)

    state, frame_error, open_error = asyncio.run(main())
    assert state is EngineState.FAILED
    expected = "inference failed: InferenceProcessDied: the inference process (pid "
    assert frame_error.startswith(expected) and frame_error.endswith("was killed by SIGKILL"), frame_error
    assert open_error == frame_error


def test_inference_process_when_engine_stops_leaves_no_process_or_shared_memory(any_model: str) -> None:
    before = segments()

    async def main() -> tuple[int, set[str]]:
        async with engine_with(any_model, ProcessPriority.NICE) as engine:
            await stylize_some(engine, 2)
            pid = engine.inference_pid
            assert pid is not None and alive(pid)
            return pid, segments() - before

    pid, during = asyncio.run(main())
    assert during, "no shared memory block was used"
    assert not alive(pid)
    assert not (segments() & during)


def test_inference_process_when_loading_fails_raises_the_error_of_the_thread(
        any_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main(process: ProcessPriority | None) -> str:
        engine = engine_with(any_model, process, backend="gpu")
        with pytest.raises(BackendUnavailableError) as error:
            await engine.start()
        return str(error.value)

    monkeypatch.setenv("STREAMER_GPU_DELEGATE", "/nonexistent/libgpu.so")
    in_process = asyncio.run(main(ProcessPriority.IDLE))
    assert in_process == asyncio.run(main(None)) and "libgpu.so" in in_process


KILLED_PARENT = """
import asyncio, sys
from streamer.engine import Engine
from streamer.inference.backends import BackendOptions, BackendReport
from streamer.inference.process import ProcessPriority
from tests.test_inference_process import stylize_some

async def main():
    engine = Engine.create(sys.argv[1], BackendOptions(backend="cpu", threads=1), use_disk_cache=False,
                           inference_process=ProcessPriority.IDLE)
    await engine.start()
    await stylize_some(engine, 2)
    print(engine.inference_pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_inference_process_when_its_parent_is_killed_exits_and_its_memory_is_unlinked(any_model: str) -> None:
    before = segments()
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, any_model], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = parent.stdout.readline()  # type: ignore[union-attr]
        assert line.strip().isdigit(), f"the parent did not start its engine: {line!r}"
        child = int(line)
        assert alive(child)
        made = segments() - before
        assert made
    finally:
        parent.kill()
        parent.communicate()
    deadline = time.monotonic() + 20
    while (alive(child) or segments() & made) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "the inference process outlived its parent"
    assert not (segments() & made), "the shared memory outlived its owner"
