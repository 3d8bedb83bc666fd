"""Reader and writer threads: priority, pixel conversions, clean close."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.engine import Engine
from streamer.ffmpeg_log import ffmpeg_messages
from streamer.frames import Frame
from streamer.inference.backends import BackendOptions
from streamer.pixels import rgb_from_video, video_from_rgb
from streamer.sources.media import MediaReader

from .corpus_media import corrupt_keyframe
from .media import make_clip, pattern_frame


async def _damage_found(reader: MediaReader) -> str | None:
    with reader:
        reader.open()
        reader.start()
        async for _ in reader.items():
            pass
        return reader.report.describe()


def test_reader_when_the_same_damaged_file_is_read_twice_reports_the_same_damage(tmp_path: Path) -> None:
    # given a clip whose fourth keyframe is damaged (the decoder conceals it and complains)
    good = make_clip(tmp_path / "good.mp4", frames=40, fps=10, keyframe_every=10, audio=None)
    source = corrupt_keyframe(good, tmp_path / "bad.mp4", which=3)
    # when one process reads it from disk, then again from memory (as a Ray worker reads a file whole
    # after one of its chunks)
    first = asyncio.run(_damage_found(MediaReader(source)))
    memory = io.BytesIO(source.read_bytes())
    memory.name = source.name
    second = asyncio.run(_damage_found(MediaReader(memory)))
    # then both reports say the same: the count and the first message
    assert first is not None and "first error: " in first
    assert second == first


def test_reader_when_only_copying_other_streams_leaves_decoder_messages_to_their_reader(tmp_path: Path) -> None:
    # given a reader that only copies a file's audio (a Ray driver joining chunks), and another
    # block watching the same decoder (a chunk decoded meanwhile in the same process)
    source = make_clip(tmp_path / "in.mp4", frames=20, fps=10, keyframe_every=10)
    with MediaReader(source) as copying, ffmpeg_messages("h264") as decoding:
        copying.open()
        av.logging.log(av.logging.ERROR, "h264", "error while decoding MB 4 2\n")
        copying.start(video=False)
        # when the copying reader reads to the end
        asyncio.run(_drain(copying))
        # then the decoder's message is still there for its reader, not counted by the other
        assert decoding.take() == [("h264", "error while decoding MB 4 2")]
        assert copying.report.first_error is None


async def _drain(reader: MediaReader) -> None:
    async for _ in reader.items():
        pass


def _named_thread(name: str, deadline: float) -> threading.Thread:
    while time.monotonic() < deadline:
        found = next((t for t in threading.enumerate() if t.name == name and t.native_id is not None), None)
        if found is not None:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no thread {name!r} started")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
def test_reader_thread_runs_below_inference_priority(any_model: str, tmp_path: Path, no_thread_leaks: None) -> None:
    # given a running engine (its inference thread) and a file reader feeding it
    clip = make_clip(tmp_path / "c.mp4", frames=20)

    async def niceness() -> tuple[int, int]:
        async with Engine.create(any_model, BackendOptions(backend="cpu", threads=1), use_disk_cache=False):
            deadline = time.monotonic() + 10
            inference = _named_thread("streamer-inference", deadline)
            reader = MediaReader(clip, buffer=1)
            await asyncio.to_thread(reader.open)
            reader.start()
            try:
                demux = _named_thread("streamer-demux", deadline)
                # the reader lowers its own priority as it starts: wait for that (bounded)
                inference_nice = os.getpriority(os.PRIO_PROCESS, inference.native_id)
                while os.getpriority(os.PRIO_PROCESS, demux.native_id) <= inference_nice:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.01)
                return os.getpriority(os.PRIO_PROCESS, demux.native_id), inference_nice
            finally:
                reader.close()

    # then decoding yields the CPU to inference
    reader_nice, inference_nice = asyncio.run(niceness())
    assert reader_nice > inference_nice


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


def _reference_420_round_trip(rgb: np.ndarray) -> np.ndarray:
    """RGB -> BT.601 limited-range YUV with each chroma sample the mean of its 2x2 block (edge
    pixels repeated at odd sizes) -> RGB, in float64 numpy: what 4:2:0 unavoidably loses."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 0.2568 * r + 0.5041 * g + 0.0979 * b
    u = 128 - 0.1482 * r - 0.2910 * g + 0.4392 * b
    v = 128 + 0.4392 * r - 0.3678 * g - 0.0714 * b
    h, w = y.shape

    def subsampled(c: np.ndarray) -> np.ndarray:
        c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
        c = c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3))
        return np.repeat(np.repeat(c, 2, 0), 2, 1)[:h, :w]

    u, v = subsampled(u) - 128, subsampled(v) - 128
    luma = 1.164 * (y - 16)
    out = np.stack([luma + 1.596 * v, luma - 0.392 * u - 0.813 * v, luma + 2.017 * u], -1)
    return np.clip(np.rint(out), 0, 255)


@pytest.mark.parametrize(("width", "height"), [(64, 48), (63, 47)])
def test_pixel_conversions_round_trip_within_the_loss_of_4_2_0(width: int, height: int) -> None:
    """RGB -> 4:2:0 -> RGB loses chroma detail; ours (OpenCV for even sizes, swscale for odd
    ones) may lose a little more than an exact numpy reference, never much more."""
    image = pattern_frame(3, height, width)
    reference_error = np.abs(_reference_420_round_trip(image) - image).mean()
    back = rgb_from_video(video_from_rgb(image).reformat(format="yuv420p"))
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image).mean() <= 1.25 * reference_error + 0.25


def test_pixel_conversions_when_even_lose_no_more_than_ffmpeg() -> None:
    """Our OpenCV path for even-sized 4:2:0 against FFmpeg's swscale on the same picture."""
    image = pattern_frame(3, 48, 64).astype(int)
    ffmpeg = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24").reformat(format="yuv420p")
    ffmpeg_error = np.abs(ffmpeg.to_ndarray(format="rgb24") - image).mean()
    back = rgb_from_video(video_from_rgb(image.astype(np.uint8)).reformat(format="yuv420p"))
    assert np.abs(back - image).mean() <= ffmpeg_error + 0.5


def test_video_from_rgb_when_even_has_each_chroma_sample_the_mean_of_its_2x2_block() -> None:
    """The chroma planes are the exact BT.601 limited-range U and V of each 2x2 block's mean
    colour (within one level of rounding), not one pixel's of it."""
    image = pattern_frame(5, 48, 64)
    planes = video_from_rgb(image).to_ndarray(format="yuv420p")
    half = image.astype(np.float64).reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
    r, g, b = half[..., 0], half[..., 1], half[..., 2]
    u = 128 - 0.1482 * r - 0.2910 * g + 0.4392 * b
    v = 128 + 0.4392 * r - 0.3678 * g - 0.0714 * b
    assert np.abs(planes[48:60].reshape(24, 32) - u).max() <= 1.0
    assert np.abs(planes[60:].reshape(24, 32) - v).max() <= 1.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@pytest.mark.parametrize(("size", "to"), [((384, 680), (720, 1280)), ((96, 170), (180, 320)), ((64, 64), (48, 48))])
def test_scaled_video_from_rgb_when_sizes_differ_matches_scaling_the_rgb_first(
        size: tuple[int, int], to: tuple[int, int]) -> None:
    """Scaling in YUV (luma to full size, chroma straight to half size) gives the planes of
    scaling the RGB image and converting it, within 45 dB per plane, on painted-like texture at
    convert's usual ratios (384 -> 720 lines; at exactly 2x the chroma is sharper than the
    average of the scaled image, about 40 dB)."""
    import cv2

    from streamer.inference.imaging import resize
    from streamer.pixels import scaled_video_from_rgb

    texture = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 40, (*size, 3)), (0, 0), 1.0)
    image = np.clip(pattern_frame(4, *size) + texture, 0, 255).astype(np.uint8)
    height, width = to
    ours = scaled_video_from_rgb(image, width, height)
    reference = video_from_rgb(resize(image, height, width))
    assert (ours.width, ours.height, ours.format.name) == (width, height, "yuv420p")
    a, b = ours.to_ndarray(format="yuv420p"), reference.to_ndarray(format="yuv420p")
    assert _psnr(a[:height], b[:height]) >= 45
    assert _psnr(a[height:], b[height:]) >= 45


def test_writer_when_frames_are_smaller_than_the_output_scales_them(tmp_path: Path) -> None:
    """Stylized frames may come at the processing size: the file has the writer's size and the
    picture of scaling each frame up (lossless x264, so only the scaling is compared)."""
    from fractions import Fraction

    from streamer.inference.imaging import resize
    from streamer.sinks.file import EncoderSettings, MediaWriter

    small = [pattern_frame(i, 64, 90) for i in range(3)]
    writer = MediaWriter(tmp_path / "out.mkv", 160, 120, Fraction(1, 10), Fraction(10),
                         settings=EncoderSettings(crf=0, preset="ultrafast"))
    writer.open()
    for i, image in enumerate(small):
        writer.write(Frame(image, pts=i, time_base=Fraction(1, 10), seq=i))
    writer.finish()
    with av.open(str(tmp_path / "out.mkv")) as container:
        decoded = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(decoded) == 3 and all(d.shape == (180, 160) for d in decoded)
    for image, got in zip(small, decoded, strict=True):
        expected = video_from_rgb(resize(image, 120, 160)).to_ndarray(format="yuv420p")
        assert _psnr(got, expected) >= 45


_OPEN_AND_CLOSE = """
import sys
from fractions import Fraction
import av
import numpy as np
from streamer.sources.media import MediaReader
clip = sys.argv[1]
with av.open(clip, "w") as out:  # B-frames and a keyframe every 10 frames
    video = out.add_stream("libx264", rate=10, options={"g": "10"})
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    rng = np.random.default_rng(0)
    for i in range(30):
        image = np.roll(rng.integers(0, 255, (120, 160, 3), np.uint8) // 4 + 96, i * 3, axis=1)
        out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    out.mux(video.encode(None))
for _ in range(60):
    with MediaReader(clip) as reader:
        reader.open()
print("closed 60 times")
"""


def test_reader_when_opened_and_closed_without_reading_to_the_end_never_hangs(tmp_path: Path) -> None:
    # H.264 frame threads log while the decoder is freed; with PyAV's GIL-taking log callback
    # installed that deadlocked within a few dozen rounds (a subprocess, so a hang is a failure)
    import subprocess

    result = subprocess.run([sys.executable, "-c", _OPEN_AND_CLOSE, str(tmp_path / "clip.mp4")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "closed 60 times" in result.stdout
