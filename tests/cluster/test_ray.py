"""``streamer convert --ray`` on a real local Ray instance (2 CPUs, loopback): chunked clips
equal to a single-process convert, a folder, a worker killed mid-chunk, Ctrl-C, a bad file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from streamer.cluster import ClusterOptions, run_cluster_jobs
from streamer.config import Backend, ProcessingSize
from streamer.convert import FileOutcome, Job, Progress
from streamer.engine import Engine
from streamer.inference.backends import BackendOptions, default_threads
from streamer.sinks.file import EncoderSettings
from streamer.sources.media import VideoInfo
from streamer.styles import StyleRecipe

from ..corpus_media import Clip, corrupt_keyframe, corrupt_middle, cut_in_half, write
from ..media import leftovers, make_clip, pattern_frame
from .conftest import Decoded, convert, decoded, open_gop_clip
from .processes import chunk_processes, descendants, listening_addresses, not_loopback

pytestmark = pytest.mark.slow


class Recorder(Progress):
    """The frames a run said it would convert, and the frames its progress counted."""

    def __init__(self) -> None:
        self.expected, self.advanced = 0, 0

    def start_file(self, job: Job, info: VideoInfo | None) -> None:
        self.expected += (info.frames or 0) if info is not None else 1

    def advance(self, frames: int = 1) -> None:
        self.advanced += frames


async def convert_on_ray(source: Path, out: Path, style: list[str], progress: Progress,
                         chunk_seconds: float) -> list[FileOutcome]:
    """What ``convert`` (``--size 96 --crf 0``) does with ``--ray``, with ``progress`` watching."""
    engine = Engine.create(style[1], BackendOptions(Backend.CPU, default_threads()))  # as the CLI does
    await engine.start()
    try:
        recipe = StyleRecipe.of(style[3])
        return await run_cluster_jobs(engine, [Job(source, out)], recipe, ProcessingSize.parse("96"),
                                      EncoderSettings(crf=0), BackendOptions(Backend.CPU),
                                      ClusterOptions(chunk_seconds=chunk_seconds), progress)
    finally:
        await engine.stop()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory, style: list[str]) -> tuple[Path, Decoded]:
    """A 20 s clip with audio and a keyframe every second, and its single-process conversion."""
    folder = tmp_path_factory.mktemp("long")
    source = make_clip(folder / "clip20.mp4", frames=200, fps=10, keyframe_every=10, audio="aac")
    single = folder / "single.mp4"
    assert convert(source, "-o", single, *style) == 0
    return source, decoded(single)


#: run in a fresh interpreter: the private Ray instance ``--ray`` starts, where it listens, and
#: the niceness of the driver and of a worker
PRIVATE_INSTANCE = """
import json, os
from streamer.cluster.connect import connect
from tests.cluster.processes import descendants, listening_addresses
cluster = connect(None)  # imports Ray itself
ray = cluster.ray
try:
    worker_niceness = ray.get(ray.remote(lambda: os.nice(0)).remote())
    print(json.dumps({"node": ray.util.get_node_ip_address(),
                      "listening": sorted(listening_addresses(descendants(os.getpid()))),
                      "niceness": [os.nice(0), worker_niceness]}))
finally:
    cluster.close()
print(json.dumps({"initialized": ray.is_initialized()}))
"""


def test_connect_when_starting_a_private_instance_listens_on_loopback_only_and_runs_workers_at_its_priority(
        tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'streamer-nst[ray]')")
    env = {k: v for k, v in os.environ.items()  # as a user runs it
           if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_worker_niceness")}
    done = subprocess.run([sys.executable, "-c", PRIVATE_INSTANCE], capture_output=True, text=True, timeout=180,
                          env=env, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    started, closed = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert started["node"] == "127.0.0.1"
    assert started["listening"] and not not_loopback(set(started["listening"])), started["listening"]
    # workers run at the command's priority, as a single-process conversion does (Ray's default
    # adds 15: any other busy process then slows them down to a third)
    driver, worker = started["niceness"]
    assert worker == driver, started["niceness"]
    assert closed == {"initialized": False}  # the instance it started is shut down by close()


def test_convert_ray_when_a_20s_clip_runs_in_2s_chunks_equals_single_process(
        ray_cluster: dict[str, Any], long_clip: tuple[Path, Decoded], style: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    source, single = long_clip
    out = tmp_path / "ray.mp4"
    assert convert(source, "-o", out, *style, "--ray", "--chunk-seconds", "2") == 0
    result = decoded(out)
    assert len(result.pts) == 200 and result.same_as(single)  # frames, pts, durations, audio packets
    assert len(result.keyframes) == 10  # one encoder GOP per chunk
    captured = capsys.readouterr()
    assert "(200 frames" in captured.out and "streamer: worker " in captured.err
    assert not leftovers(tmp_path)
    # the workers that ran the chunks listen on loopback only, as the instance does
    assert not not_loopback(listening_addresses(descendants(os.getpid())))


def test_convert_ray_when_a_folder_of_three_clips_converts_each_like_single_process(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder, singles, out = tmp_path / "clips", tmp_path / "single", tmp_path / "ray"
    folder.mkdir()
    for i, (frames, suffix) in enumerate([(30, ".mp4"), (45, ".mkv"), (25, ".mp4")]):
        make_clip(folder / f"clip{i}{suffix}", frames=frames, fps=10, keyframe_every=10,
                  audio="aac" if i != 1 else None)
    assert convert(folder, "-o", singles, *style) == 0
    capsys.readouterr()
    assert convert(folder, "-o", out, *style, "--ray") == 0
    printed = capsys.readouterr().out
    assert "3 converted, 0 failed" in printed
    for name in ("clip0.mp4", "clip1.mkv", "clip2.mp4"):
        assert decoded(out / name).same_as(decoded(singles / name)), name
    assert not leftovers(tmp_path)


def test_convert_ray_when_a_worker_is_killed_mid_chunk_retries_it_and_the_output_is_equal(
        ray_cluster: dict[str, Any], long_clip: tuple[Path, Decoded], style: list[str], tmp_path: Path) -> None:
    source, single = long_clip
    out = tmp_path / "ray.mp4"
    killed: list[int] = []
    sizes: set[int] = set()  # sizes of the output whenever it was seen during the run
    stop = threading.Event()

    def kill_one_worker() -> None:
        while not stop.is_set():
            running = chunk_processes()
            with contextlib.suppress(FileNotFoundError):
                sizes.add(out.stat().st_size)
            if running and not killed:
                time.sleep(0.2)  # well inside the chunk
                try:
                    os.kill(running[0], signal.SIGKILL)
                    killed.append(running[0])
                except ProcessLookupError:
                    continue
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    progress = Recorder()
    try:
        [outcome] = asyncio.run(convert_on_ray(source, out, style, progress, chunk_seconds=5))
    finally:
        stop.set()
        killer.join()
    assert killed, "no chunk was seen running"
    assert sizes <= {out.stat().st_size}, "the output was seen before it was complete"
    assert outcome.ok and outcome.frames == 200
    assert decoded(out).same_as(single)
    # progress counted every frame once, though the killed chunk ran twice
    assert progress.expected == progress.advanced == 200
    assert not leftovers(tmp_path)


def test_convert_ray_when_a_later_chunk_is_damaged_resends_the_file_and_counts_each_frame_once(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path) -> None:
    # given a clip cut at IDR frames, the fourth damaged: a damaged input without Ray
    good = make_clip(tmp_path / "good.mp4", frames=60, fps=10, keyframe_every=10, audio=None)
    source = corrupt_keyframe(good, tmp_path / "in.mp4", which=3)
    single, out = tmp_path / "single.mp4", tmp_path / "ray.mp4"
    assert convert(source, "-o", single, *style) == 3
    # when it runs on Ray in 1 s chunks: the first three chunks are done before the fourth fails
    # to decode cleanly and the file is resent whole
    progress = Recorder()
    [outcome] = asyncio.run(convert_on_ray(source, out, style, progress, chunk_seconds=1))
    # then it is damaged as without Ray, with the same output, and progress counted each frame once
    assert outcome.ok and outcome.damage and outcome.frames == 60
    assert decoded(out).same_as(decoded(single))
    assert progress.advanced == progress.expected == 60
    assert not leftovers(tmp_path)


def damage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The per-file damage reports logged (``in.mp4: damaged input: ...``)."""
    return [r.getMessage() for r in caplog.records if "damaged input: " in r.getMessage()]


@pytest.mark.parametrize("cut", ["idr", "recovery point"])
def test_convert_ray_when_a_chunk_has_decoding_errors_reports_the_damage_as_single_process(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, cut: str) -> None:
    # given a clip cut at IDR frames, the fourth damaged; or an open-GOP clip whose recovery-point
    # keyframe (a chunk's first packet) is damaged; and what convert without Ray says of it
    if cut == "idr":
        good = make_clip(tmp_path / "good.mp4", frames=60, fps=10, keyframe_every=10, audio=None)
        source = corrupt_keyframe(good, tmp_path / "in.mp4", which=3)
    else:
        source = corrupt_keyframe(open_gop_clip(tmp_path / "good.mp4"), tmp_path / "in.mp4", which=1)
    assert convert(source, "-o", tmp_path / "single.mp4", *style) == 3
    single = damage_lines(caplog)
    caplog.clear()
    capsys.readouterr()
    # when it runs on Ray in 1 s chunks, one at a time: the worker that meets the damage in a chunk
    # is the one that then reads the file whole
    assert convert(source, "-o", tmp_path / "ray.mp4", *style, "--ray", "--chunk-seconds", "1",
                   "--ray-cpus-per-worker", "2") == 3
    # then the file's summary and exit status are the single-process ones: the error count and the
    # first message
    assert f"damaged {source} -> {tmp_path / 'ray.mp4'}" in capsys.readouterr().out
    assert len(single) == 1 and "decoding errors; first error: " in single[0]
    assert damage_lines(caplog) == single


@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_convert_ray_when_interrupted_cancels_the_chunks_and_leaves_nothing(
        ray_cluster: dict[str, Any], long_clip: tuple[Path, Decoded], style: list[str], tmp_path: Path) -> None:
    source, _ = long_clip
    out = tmp_path / "out.mp4"
    deadline = time.monotonic() + 30  # a chunk of an earlier test still running would trigger the Ctrl-C early
    while chunk_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not chunk_processes()
    # a second driver process joins the module's cluster, as `--ray host:port` does on a real one
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", "convert", str(source), "-o", str(out), *style, "--size", "96",
         "--ray", ray_cluster["address"], "--chunk-seconds", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
    try:
        deadline = time.monotonic() + 120
        while not chunk_processes() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "streamer: interrupted" in err and "Traceback" not in err
    assert not out.exists() and not leftovers(tmp_path)
    deadline = time.monotonic() + 20  # the cancelled chunks stop, they do not run on
    while chunk_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not chunk_processes()


def test_convert_ray_when_the_address_is_auto_from_the_environment_joins_the_running_cluster(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path) -> None:
    # `--ray` alone takes $STREAMER_RAY_ADDRESS; `auto` finds the running cluster as Ray does (here
    # from $RAY_ADDRESS: no other Ray on this machine is picked up), and never starts one
    source = make_clip(tmp_path / "in.mp4", frames=20, keyframe_every=10)
    out = tmp_path / "out.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "streamer", "convert", str(source), "-o", str(out), *style, "--size", "96",
         "--no-progress", "--chunk-seconds", "1", "--ray"], capture_output=True, text=True, timeout=240,
        env={**{k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"},  # as a user
             "STREAMER_RAY_ADDRESS": "auto", "RAY_ADDRESS": ray_cluster["address"]})
    assert done.returncode == 0, done.stderr
    assert "(20 frames" in done.stdout and len(decoded(out).pts) == 20 and not leftovers(tmp_path)


def test_convert_ray_when_one_file_is_bad_reports_it_and_finishes_the_others(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    make_clip(folder / "good.mp4", frames=20, keyframe_every=10)
    make_clip(folder / "good2.mkv", frames=15, audio=None)
    (folder / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    Image.fromarray(pattern_frame(0, 40, 40)).save(folder / "pic.png")
    assert convert(folder, "-o", out, *style, "--ray") == 1
    printed = capsys.readouterr()
    assert "failed  " in printed.out and "bad.mp4" in printed.out and "3 converted, 1 failed" in printed.out
    assert "streamer: error: " in printed.err and "Traceback" not in printed.err
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", "good2.mkv", "pic.png"]
    assert len(decoded(out / "good.mp4").pts) == 20 and not leftovers(tmp_path)


@pytest.mark.parametrize(("damage", "name", "allow"), [
    (cut_in_half, "cut.mkv", False),  # cut short: seen while the driver reads the packets
    (corrupt_middle, "bad.mp4", False),  # corrupt packets: seen by the worker decoding a chunk
    (cut_in_half, "cut.mkv", True),
])
def test_convert_ray_when_the_input_is_damaged_follows_the_single_process_policy(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        damage: Any, name: str, allow: bool) -> None:
    # given a damaged input, and what convert without Ray makes of it
    good = write(tmp_path / f"good{Path(name).suffix}", Clip(frames=60, fps=30, width=96, height=64))
    source = damage(good, tmp_path / name)
    args = ["--allow-damaged"] if allow else []
    single, clustered = tmp_path / f"single{source.suffix}", tmp_path / f"ray{source.suffix}"
    status = 0 if allow else 3
    assert convert(source, "-o", single, *style, *args) == status
    capsys.readouterr()
    # when it is converted with --ray in short chunks
    assert convert(source, "-o", clustered, *style, "--ray", "--chunk-seconds", "0.3", *args) == status
    printed = capsys.readouterr()
    # then the exit status, the summary and the output are those without Ray
    assert f"damaged {source} -> {clustered}" in printed.out
    assert ("--allow-damaged accepts it" in printed.err) is not allow and "Traceback" not in printed.err
    assert decoded(clustered).same_as(decoded(single)) and not leftovers(tmp_path)


def test_convert_ray_when_no_node_can_hold_a_worker_says_so_before_any_output(
        ray_cluster: dict[str, Any], style: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=5)
    assert convert(source, "-o", tmp_path / "out.mp4", *style, "--ray", "--ray-gpus-per-worker", "1") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("streamer: error: no Ray node has 1 CPUs and 1 GPUs for one worker: lower "
                   "--ray-cpus-per-worker/--ray-gpus-per-worker")
    assert not (tmp_path / "out.mp4").exists() and not leftovers(tmp_path)


@pytest.fixture(autouse=True)
def _no_chunks_left_running() -> Iterator[None]:
    yield
    assert not chunk_processes()
