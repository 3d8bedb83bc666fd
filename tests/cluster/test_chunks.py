"""The cluster path's parts without Ray: where videos are cut, how chunks are joined, and the
chunk pipeline (plan -> worker -> join) against a single-process convert with real codecs
(marked slow, as is the one test here that starts Ray)."""

from __future__ import annotations

import asyncio
import io
import socket
import sys
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.cli import main
from streamer.cluster import ClusterOptions
from streamer.cluster.chunks import (
    ChunkInput,
    PacketInfo,
    VideoPlan,
    auto_chunk_seconds,
    chunk_inputs,
    plan_video,
    split_points,
)
from streamer.cluster.connect import parse_address
from streamer.cluster.entry import Entry, entry_of
from streamer.cluster.join import ChunkJoiner, fit_dts
from streamer.cluster.models import ModelPackage
from streamer.cluster.progress import ChunkKey, FrameCounter
from streamer.cluster.worker import ChunkDecodeError, ChunkTask, EncoderSpec, stylize_chunk
from streamer.config import Backend, CpuPrecision, Precision, ProcessingSize
from streamer.engine import Engine
from streamer.errors import ConfigError, SinkError
from streamer.inference.backends import BackendOptions, BackendReport, default_threads
from streamer.sinks.file import EncodedPacket, EncoderSettings
from streamer.sources.media import MediaReader
from streamer.styles import StyleRecipe

from ..corpus_media import corrupt_keyframe
from ..media import leftovers, make_clip, pattern_frame
from .conftest import convert, decoded, open_gop_clip, write_clip

TB = Fraction(1, 10)


def gops(*lengths: int, leading: dict[int, int] | None = None) -> list[PacketInfo]:
    """Packets of consecutive GOPs (one frame per tick); ``leading[g]`` pictures of GOP ``g`` show
    before its keyframe (open GOP)."""
    packets, start = [], 0
    for g, length in enumerate(lengths):
        lead = (leading or {}).get(g, 0)
        packets.append(PacketInfo(start, True))
        packets += [PacketInfo(start - lead + i, False) for i in range(lead)]
        packets += [PacketInfo(start + i, False) for i in range(1, length - lead)]
        start += length - lead
    return packets


def test_split_points_when_keyframes_are_clean_cuts_chunks_of_at_least_the_length() -> None:
    packets = gops(10, 10, 10, 10, 10)  # a keyframe every second
    assert split_points(packets, TB, 2.0) == (0, 20, 40)
    assert split_points(packets, TB, 1.0) == (0, 10, 20, 30, 40)
    assert split_points(packets, TB, 30.0) == (0,)


def test_split_points_when_a_keyframe_has_leading_pictures_does_not_cut_there() -> None:
    packets = gops(10, 10, 10, leading={1: 2})  # GOP 1 opens with two pictures of GOP 0's time
    assert split_points(packets, TB, 1.0) == (0, 20)


def test_split_points_when_a_keyframe_is_no_entry_point_does_not_cut_there() -> None:
    packets = gops(10, 10, 10)
    packets[10] = replace(packets[10], entry=Entry.NONE)  # an H.264 I-frame neither IDR nor recovery point
    packets[20] = replace(packets[20], entry=Entry.RECOVERY)
    assert split_points(packets, TB, 1.0) == (0, 20)


@pytest.mark.parametrize(("options", "expected"), [
    ({}, Entry.RESET),  # x264's keyframes are IDR frames
    ({"x264-params": "open-gop=1"}, Entry.RECOVERY),  # I-frames with an exact recovery point
])
def test_entry_of_when_h264_keyframes_are_idr_frames_or_recovery_points(
        tmp_path: Path, options: dict[str, str], expected: Entry) -> None:
    for suffix in (".mp4", ".ts"):  # length-prefixed and Annex B units
        source = write_clip(tmp_path / f"in{suffix}", list(range(30)), 10,
                            {"g": "10", "keyint_min": "10", "sc_threshold": "0", **options})
        with av.open(str(source)) as c:
            stream = c.streams.video[0]
            extradata = stream.codec_context.extradata
            entries = [entry_of("h264", extradata, bytes(p)) for p in c.demux(stream) if p.size and p.is_keyframe]
        assert entries == [Entry.RESET, expected, expected], suffix
    assert entry_of("h264", None, b"\x00\x00\x01\x01\x88") is Entry.NONE  # a plain I slice
    assert entry_of("vp9", None, b"anything") is Entry.RESET


@pytest.mark.parametrize("case", ["no-pts", "discard", "zero"])
def test_split_points_when_the_stream_cannot_be_cut_sends_it_whole(case: str) -> None:
    packets = gops(10, 10, 10)
    seconds = 1.0
    if case == "no-pts":
        packets[15] = PacketInfo(None, False)
    elif case == "discard":
        packets[0] = PacketInfo(0, True, discard=True)
    else:
        seconds = 0.0
    assert split_points(packets, TB, seconds) is None


def test_auto_chunk_seconds_when_more_workers_makes_chunks_shorter_within_bounds() -> None:
    assert auto_chunk_seconds(20.0, files=1, slots=2) == 2.5
    assert auto_chunk_seconds(600.0, files=1, slots=8) == pytest.approx(18.75)
    assert auto_chunk_seconds(20.0, files=1, slots=64) == 2.0  # not below the lower bound
    assert auto_chunk_seconds(7200.0, files=1, slots=2) == 60.0  # nor above the upper one
    assert auto_chunk_seconds(30.0, files=100, slots=2) == 30.0  # many files: one chunk each


def packet(pts: int, dts: int) -> EncodedPacket:
    return EncodedPacket(b"x", pts, dts, False, 1)


def test_fit_dts_when_leading_decode_times_reach_back_into_the_previous_chunk_moves_only_those() -> None:
    # B-frames: the chunk's first two decode times lie before its first picture (100), at 94 and
    # 97 -- not after the previous chunk's last decode time, 97
    chunk = [packet(100, 94), packet(103, 97), packet(101, 100), packet(102, 101)]
    fitted = fit_dts(chunk, after=97)
    dts = [p.dts for p in fitted]
    assert dts == [98, 99, 100, 101]
    assert all(p.dts <= p.pts for p in fitted)


def test_fit_dts_when_already_after_the_previous_chunk_keeps_every_timestamp() -> None:
    chunk = [packet(100, 98), packet(103, 99), packet(101, 101)]
    assert fit_dts(chunk, after=97) == chunk and fit_dts(chunk, after=None) == chunk


def test_fit_dts_when_chunks_overlap_in_time_refuses() -> None:
    with pytest.raises(SinkError, match="overlap"):
        fit_dts([packet(100, 98), packet(101, 99)], after=100)


@pytest.mark.parametrize("text", ["clip.mp4", "ray://", "http://x:1", "a b:1"])
def test_parse_address_when_not_an_address_says_how_to_give_one(text: str) -> None:
    with pytest.raises(ConfigError, match="not a Ray address"):
        parse_address(text)


def test_parse_address_when_omitted_uses_the_environment_then_a_local_instance(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMER_RAY_ADDRESS", raising=False)
    assert parse_address("") is None and parse_address("local") is None
    assert parse_address("auto") == "auto" and parse_address("ray://head:10001") == "ray://head:10001"
    monkeypatch.setenv("STREAMER_RAY_ADDRESS", "10.0.0.5:6379")
    assert parse_address("") == "10.0.0.5:6379"


def test_convert_with_ray_when_ray_is_missing_gives_one_line_error(
        tmp_path: Path, style: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    source = make_clip(tmp_path / "in.mp4", frames=3)
    assert main(["convert", str(source), "-o", str(tmp_path / "out.mp4"), *style, "--ray"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("streamer: error: --ray needs Ray, which is not installed: pip install ")
    assert "ray" in err[-1].split("pip install ", 1)[1]
    assert not (tmp_path / "out.mp4").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("option", [["--chunk-seconds", "2"], ["--ray-gpus-per-worker", "1"]])
def test_convert_when_cluster_options_come_without_ray_refuses_them(
        tmp_path: Path, style: list[str], option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=3)
    assert main(["convert", str(source), "-o", str(tmp_path / "out.mp4"), *style, *option]) == 1
    assert capsys.readouterr().err.strip().endswith(f"{option[0]} needs --ray")


# -- the chunk pipeline, run in order in this process ----------------------------------------------
async def convert_in_chunks(source: Path, destination: Path, model: str, style: str, seconds: float,
                            models_dir: Path, strength: float = 1.0, crf: int = 0) -> VideoPlan:
    """What ``--ray`` does, with the Ray tasks called one after another here."""
    driver = Engine.create(model, BackendOptions(Backend.CPU, default_threads()))  # as the CLI makes it
    await driver.start()
    backend = ClusterOptions().worker_backend(BackendOptions(Backend.CPU), driver.report)
    worker = Engine.create(ModelPackage.of(driver.model_set).install(models_dir), backend, max_batch=1,
                           use_disk_cache=False)
    await worker.start()
    try:
        recipe = StyleRecipe.of(style, strength=strength)
        plan = plan_video(source, 0.0 if recipe.needs_content else seconds)
        embeddings = {name: await driver.styles.embedding(name) for name in recipe.styles}
        info = plan.info
        spec = EncoderSpec(destination.name, info.width, info.height, info.time_base, info.rate,
                           EncoderSettings(crf=crf))
        joiner = ChunkJoiner(source, destination, info, EncoderSettings(crf=crf))
        await joiner.open()
        end_pts = None
        try:
            async for chunk in chunk_inputs(plan):
                task = ChunkTask(ChunkKey(1, 0, chunk.index), recipe, embeddings, ProcessingSize.parse("96"), spec,
                                 backend)
                result = await stylize_chunk(worker, task, chunk)
                await joiner.append(result)
                end_pts = result.end_pts
            await joiner.finish(end_pts)
        except BaseException:
            await joiner.abort()  # as the driver does: its reader of the source is closed too
            raise
        return plan
    finally:
        await worker.stop()
        await driver.stop()


def style_name(style: list[str]) -> str:
    return style[style.index("--style") + 1]


async def read_whole(reader: MediaReader) -> MediaReader:
    """``reader`` read to the end (then closed), for its report."""
    with reader:
        reader.open()
        reader.start()
        async for _ in reader.items():
            pass
    return reader


#: irregular frame times (1/30 s units): gaps of 1 to 4 frames, a keyframe every 10 frames
VFR_PTS = [sum([1, 1, 3, 1, 2, 1, 1, 4, 1, 2][:i % 10]) + 20 * (i // 10) for i in range(60)]


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
@pytest.mark.parametrize("kind", ["closed-gop", "open-gop", "vfr", "rotated", "subtitles"])
def test_chunked_conversion_when_joined_equals_the_single_process_convert(
        tmp_path: Path, style: list[str], kind: str) -> None:
    # given a 6 s clip with a keyframe every 10 frames and B-frames: with audio; or with open
    # GOPs (keyframes with leading pictures must not become cuts); or with irregular frame times;
    # or shown rotated by 90 degrees (a phone video); or with a subtitle track
    keyframes_every = {"g": "10", "keyint_min": "10", "sc_threshold": "0"}
    if kind == "closed-gop":
        source = make_clip(tmp_path / "in.mp4", frames=60, fps=10, keyframe_every=10)
    elif kind == "open-gop":
        source = open_gop_clip(tmp_path / "in.mp4")
    elif kind == "vfr":
        source = write_clip(tmp_path / "in.mkv", VFR_PTS, 30, keyframes_every)
    elif kind == "rotated":
        source = write_clip(tmp_path / "in.mp4", list(range(60)), 10, keyframes_every, rotation=90)
        assert decoded(source).rotation == 90
    else:
        source = write_clip(tmp_path / "in.mkv", list(range(60)), 10, keyframes_every, subtitles=4)
    single, chunked = tmp_path / f"single{source.suffix}", tmp_path / f"chunked{source.suffix}"
    assert convert(source, "-o", single, *style, "--backend", "cpu") == 0
    # when it is cut into chunks of >= 1/3 s, each stylized and encoded on its own, and joined
    plan = asyncio.run(convert_in_chunks(source, chunked, style[1], style_name(style), 0.3, tmp_path / "models"))
    keyframes = decoded(source).keyframes
    assert plan.starts is not None and len(plan.starts) >= 2
    if kind == "open-gop":  # keyframes with leading pictures were passed over; one cut at a recovery point
        assert len(plan.starts) < len(keyframes) and Entry.RECOVERY in plan.start_entries
    else:
        assert len(plan.starts) == len(keyframes) == 6
    # then the frames (lossless), timestamps, durations, rotation, audio and subtitle packets are
    # the single-process ones
    a, b = decoded(single), decoded(chunked)
    assert len(b.pts) == 60 and b.same_as(a)
    if kind == "rotated":  # turned as the player shows it, in every chunk: upright 120x160 frames
        assert b.rotation == 0 and {i.shape[:2] for i in b.images} == {(160, 120)}
    if kind == "subtitles":  # copied once, untouched
        assert [data for _, _, data in b.others] == [f"line {i}".encode() for i in (0, 15, 30, 45)]
    # and every chunk starts a new GOP of the encoder
    with av.open(str(source)) as c:
        packet_pts = [p.pts for p in c.demux(video=0) if p.size]
    assert {packet_pts[i] for i in plan.starts} <= set(b.keyframes)
    assert not leftovers(tmp_path)


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_chunked_conversion_when_a_later_chunk_starts_at_a_damaged_idr_frame_refuses_the_chunk(
        tmp_path: Path, style: list[str]) -> None:
    # given a clip whose keyframes are IDR frames, the fourth one (a chunk's first frame) damaged:
    # the decoder conceals it and complains, and a single-process convert calls the file damaged
    good = make_clip(tmp_path / "good.mp4", frames=60, fps=10, keyframe_every=10, audio=None)
    source = corrupt_keyframe(good, tmp_path / "in.mp4", which=3)
    assert convert(source, "-o", tmp_path / "single.mp4", *style, "--backend", "cpu") == 3
    # when it is cut at its keyframes, the chunk starting at the damaged one is refused (the file then
    # goes to one worker whole): a decoder starting at an IDR frame has nothing to complain about
    with pytest.raises(ChunkDecodeError, match="chunk 3 decoded 10 of 10 frames on its own with [1-9]"):
        asyncio.run(convert_in_chunks(source, tmp_path / "chunked.mp4", style[1], style_name(style), 0.3,
                                      tmp_path / "models"))


@pytest.mark.parametrize("damaged", [False, True])
def test_chunk_reader_when_a_chunk_starts_at_a_recovery_point_counts_all_but_the_cut_s_messages(
        tmp_path: Path, damaged: bool) -> None:
    # given an open-GOP clip cut at its recovery point; clean, or with that keyframe (the chunk's
    # first packet) damaged, which the decoder conceals and complains about
    source = open_gop_clip(tmp_path / "good.mp4")
    if damaged:
        source = corrupt_keyframe(source, tmp_path / "bad.mp4", which=1)
    whole = asyncio.run(read_whole(MediaReader(source))).report
    plan = plan_video(source, 1.0)
    assert plan.start_entries == (Entry.RESET, Entry.RECOVERY)

    async def recovery_chunk() -> ChunkInput:
        chunks = chunk_inputs(plan)
        try:
            return [chunk async for chunk in chunks][1]
        finally:
            await chunks.aclose()

    chunk = asyncio.run(recovery_chunk())
    # when the chunk is read on its own as a worker reads it (the cut's messages expected)
    memory = io.BytesIO(chunk.data)
    memory.name = source.name
    alone = asyncio.run(read_whole(MediaReader(memory, orientation=chunk.orientation,
                                               expected=chunk.entry.expects))).report
    # then FFmpeg did complain about the references before the cut, and only that is excused:
    # the clean chunk has no error, the damaged one the whole file's (all of them in this chunk)
    assert alone.expected_errors >= 1 and alone.frames == 50
    assert (alone.decoder_errors, alone.first_error) == (whole.decoder_errors, whole.first_error)
    assert (alone.describe() is not None) is damaged and (whole.describe() is not None) is damaged


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_chunked_conversion_when_a_chunk_starting_at_a_recovery_point_is_damaged_refuses_the_chunk(
        tmp_path: Path, style: list[str]) -> None:
    # given an open-GOP clip whose recovery-point keyframe (a chunk's first frame) is damaged: a
    # single-process convert calls the file damaged
    source = corrupt_keyframe(open_gop_clip(tmp_path / "good.mp4"), tmp_path / "in.mp4", which=1)
    assert convert(source, "-o", tmp_path / "single.mp4", *style, "--backend", "cpu") == 3
    # when it is cut there, the chunk is refused (the file then goes to one worker whole): the
    # decoder's complaints beyond references before the cut are damage
    with pytest.raises(ChunkDecodeError, match="chunk 1 decoded 50 of 50 frames on its own with [1-9]"):
        asyncio.run(convert_in_chunks(source, tmp_path / "chunked.mp4", style[1], style_name(style), 1.0,
                                      tmp_path / "models"))


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_chunked_conversion_when_lossy_with_b_frames_and_irregular_times_keeps_every_timestamp(
        tmp_path: Path, style: list[str]) -> None:
    # CRF 20 encodes with B-frames: each chunk's decode times start before its first picture, by
    # its first (long) frame gaps -- back past the previous chunk's last (short-gapped) decode time
    pts = [[0, 8, 16, 24, 25, 26, 27, 28, 29, 30][i % 10] + 31 * (i // 10) for i in range(60)]
    source = write_clip(tmp_path / "in.mp4", pts, 30, {"g": "10", "keyint_min": "10", "sc_threshold": "0"})
    single, chunked = tmp_path / "single.mp4", tmp_path / "chunked.mp4"
    assert convert(source, "-o", single, *style, "--backend", "cpu", "--crf", "20") == 0
    asyncio.run(convert_in_chunks(source, chunked, style[1], style_name(style), 0.3, tmp_path / "models", crf=20))
    a, b = decoded(single), decoded(chunked)
    assert b.pts == a.pts and len(b.pts) == 60
    # MP4 ends the track with the last packet in decode order, which B-frame choices move
    assert a.video_duration is not None and b.video_duration is not None
    assert abs(b.video_duration - a.video_duration) < 15360 // 30
    with av.open(str(chunked)) as c:
        packets = [(p.pts, p.dts) for p in c.demux(video=0) if p.size]
    assert any(pts != dts for pts, dts in packets)  # B-frames indeed
    dts = [d for _, d in packets]
    assert dts == sorted(set(dts)) and all(d <= p for p, d in packets)


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_chunked_conversion_when_strength_below_one_sends_the_file_whole_and_blends_as_single_process(
        tmp_path: Path, any_model: str, style: list[str]) -> None:
    from streamer.inference.catalog import find_model_set

    if find_model_set(any_model).predictor is None:
        pytest.skip("the model set has no style predictor")
    source = make_clip(tmp_path / "in.mp4", frames=30, fps=10, keyframe_every=10, audio=None)
    single, chunked = tmp_path / "single.mp4", tmp_path / "chunked.mp4"
    assert convert(source, "-o", single, *style, "--backend", "cpu", "--strength", "0.5") == 0
    plan = asyncio.run(convert_in_chunks(source, chunked, any_model, style_name(style), 1.0, tmp_path / "models",
                                         strength=0.5))
    # the content's own embedding is refreshed along the file: the worker's stream does it as one
    assert plan.starts is None
    assert decoded(chunked).same_as(decoded(single))


def test_frame_counter_when_a_chunk_is_retried_counts_its_frames_once() -> None:
    counter = FrameCounter()
    a, b = ChunkKey(1, 0, 0), ChunkKey(1, 0, 1)
    counter.report(a, 12)
    counter.report(b, 5)
    counter.report(a, 3)  # chunk a's worker died; the retry starts again from 0
    assert counter.total() == 17
    counter.report(a, 20)
    assert counter.total() == 25


def test_frame_counter_when_a_file_is_resent_whole_counts_its_frames_once() -> None:
    counter = FrameCounter()
    counter.report(ChunkKey(1, 0, 0), 10)
    counter.report(ChunkKey(1, 0, 1), 10)  # then chunk 2 fails to decode: the file goes whole
    counter.report(ChunkKey(2, 0, 0), 7)  # another file
    counter.report(ChunkKey(1, 1, 0), 15)  # the whole file, not yet as far as the chunks got
    assert counter.total() == 20 + 7
    counter.report(ChunkKey(1, 1, 0), 30)
    assert counter.total() == 30 + 7


@pytest.mark.parametrize(("backend", "gpus", "expected"), [
    (Backend.AUTO, 0.0, Backend.CPU),  # a worker holding no GPU does not take one
    (Backend.AUTO, 1.0, Backend.AUTO),  # a GPU worker uses it when it really runs, else says why
    (Backend.GPU, 0.5, Backend.GPU),
    (Backend.CPU, 1.0, Backend.CPU),
])
def test_worker_backend_when_workers_hold_gpus_or_not(backend: Backend, gpus: float, expected: Backend) -> None:
    options = ClusterOptions(cpus_per_worker=1.5, gpus_per_worker=gpus)
    chosen = options.worker_backend(BackendOptions(backend, threads=8, gpu_delegate="lib.so",
                                                   precision=CpuPrecision.INT8))
    assert chosen == BackendOptions(expected, threads=2, gpu_delegate="lib.so", precision=CpuPrecision.INT8)


@pytest.mark.parametrize(("driver", "asked", "expected"), [
    (BackendReport(Backend.CPU, Precision.FP16, "XNNPACK", "t.tflite"), CpuPrecision.AUTO, CpuPrecision.FLOAT),
    (BackendReport(Backend.CPU, Precision.INT8, "XNNPACK", "t.tflite"), CpuPrecision.AUTO, CpuPrecision.INT8),
    (BackendReport(Backend.CPU, Precision.FP16, "XNNPACK", "t.tflite"), CpuPrecision.INT8, CpuPrecision.INT8),
    (BackendReport(Backend.GPU, Precision.FP16, "delegate", "t.tflite"), CpuPrecision.AUTO, CpuPrecision.FLOAT),
])
def test_worker_backend_when_precision_is_auto_pins_the_drivers_measured_choice(
        driver: BackendReport, asked: CpuPrecision, expected: CpuPrecision) -> None:
    # every chunk of a file must run the same transform, whichever machine it lands on
    chosen = ClusterOptions().worker_backend(BackendOptions(Backend.CPU, precision=asked), driver)
    assert chosen.precision is expected


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_convert_with_ray_when_the_cluster_cannot_be_reached_fails_in_one_line(
        tmp_path: Path, style: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed (the 'ray' extra)")
    if ray.is_initialized():
        pytest.skip("this process is already connected to Ray")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = make_clip(tmp_path / "in.mp4", frames=3)
    address = f"127.0.0.1:{port}"
    assert main(["convert", str(source), "-o", str(tmp_path / "out.mp4"), *style, "--ray", address]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"streamer: error: cannot connect to the Ray cluster at {address}: ")
    assert not (tmp_path / "out.mp4").exists() and not leftovers(tmp_path)


@pytest.mark.slow  # seconds to a minute each: real codecs and engines
def test_run_chunk_when_a_gpu_worker_runs_several_chunks_keeps_one_engine_and_the_drivers_embedding(
        tmp_path: Path, any_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamer.cluster import worker
    from streamer.inference.catalog import find_model_set

    if find_model_set(any_model).predictor is None:
        pytest.skip("the model set has no style predictor")
    # given a style image, embedded once by the driver and then gone (workers never see the file)
    image = tmp_path / "style.png"
    av.VideoFrame.from_ndarray(pattern_frame(7, 256, 256), format="rgb24").to_image().save(image)
    source = make_clip(tmp_path / "in.mp4", frames=30, fps=10, keyframe_every=10, audio=None)
    plan = plan_video(source, 0.3)

    async def prepare() -> tuple[ModelPackage, BackendOptions, dict[str, np.ndarray], list[ChunkInput]]:
        driver = Engine.create(any_model, BackendOptions(Backend.CPU, default_threads()))
        await driver.start()
        try:
            embeddings = {str(image): await driver.styles.embedding(str(image))}
            # a worker holding a GPU: the backend is chosen as without Ray (GPU if it really runs)
            backend = ClusterOptions(gpus_per_worker=1).worker_backend(BackendOptions(Backend.AUTO), driver.report)
            return ModelPackage.of(driver.model_set), backend, embeddings, [c async for c in chunk_inputs(plan)]
        finally:
            await driver.stop()

    package, backend, embeddings, chunks = asyncio.run(prepare())
    image.unlink()
    monkeypatch.setattr(worker, "_engine", None)  # a fresh worker process
    info = plan.info
    spec = EncoderSpec("out.mp4", info.width, info.height, info.time_base, info.rate, EncoderSettings(crf=0))

    def inference_threads() -> int:
        return sum(t.name == "streamer-inference" for t in threading.enumerate())

    before = inference_threads()
    # when the worker process runs the chunks one after another, as Ray calls it
    recipe = StyleRecipe.of(str(image))
    size = ProcessingSize.parse("96")
    results = [worker.run_chunk(ChunkTask(ChunkKey(1, 0, c.index), recipe, embeddings, size, spec, backend), c, package)
               for c in chunks]
    assert worker._engine is not None
    engine = worker._engine[1]
    try:
        # then every chunk is stylized, by one engine (one inference thread) that never ran the
        # style predictor: the embedding came with the chunk
        assert [r.frames for r in results] == [10, 10, 10]
        assert inference_threads() == before + 1
        assert asyncio.run(engine.predictor_runs()) == 0
        # and the worker says which backend runs: the GPU, or the CPU with the usual reason
        backend_line = results[0].backend
        assert backend_line.startswith("using GPU fp16") or "no usable GPU" in backend_line, backend_line
    finally:
        asyncio.run(engine.stop(drain=False))
