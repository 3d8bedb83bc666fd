"""The bad and odd input corpus: every case is converted by the real command and its output probed.

Each row says how its input is made (generated with PyAV into a temporary folder), the
command's options, and what must come out: the exit status, a message, and the output's
frames, displayed size, rotation, duration, audio packets and streams (``SAME`` = as the
input has them, probed the same way). Frame times are read from the packets (AVI has no
presentation timestamps: its chunk order is its time, so decode timestamps are used there).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from streamer.cli import main

from .corpus_media import Clip, corrupt_middle, cut_in_half, upright_picture, write


class _Same:
    def __repr__(self) -> str:
        return "SAME"


SAME: Any = _Same()  #: expected value: whatever the input has


@dataclass
class Probe:
    """What a player or FFmpeg sees in a file."""

    frames: int  #: decoded video frames
    size: tuple[int, int]  #: (width, height) as displayed
    rotation: int  #: display rotation left in the file
    duration: float  #: seconds: the video stream's duration (FFmpeg; Matroska's tag), else the file's
    times: list[float]  #: video frame times, seconds, in display order (compared from the first)
    audio_packets: int
    audio_start: float | None  #: first audio packet time (seconds)
    streams: list[str]  #: "video", "audio", "cover", ... in file order
    first: np.ndarray  #: first frame as displayed (RGB)


def _turn(image: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, k=(rotation // 90) % 4))


def _video_duration(video: Any, container: Any) -> float:
    """The video stream's length as FFmpeg reports it (Matroska: from its DURATION tag), else the file's."""
    if video.duration:
        return float(video.duration * video.time_base)
    tag = video.metadata.get("DURATION")  # Matroska: where the track ends
    if tag:
        hours, minutes, seconds = tag.split(":")
        start = float(video.start_time * video.time_base) if video.start_time else 0.0
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds) - start
    return float((container.duration - (container.start_time or 0)) / av.time_base)


def probe(path: Path) -> Probe:
    """Read ``path`` with PyAV alone (no streamer code)."""
    with av.open(str(path)) as container:
        is_avi = "avi" in container.format.name.split(",")
        videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        video = videos[0]
        index = video.index
        streams = ["cover" if s.disposition & av.stream.Disposition.attached_pic else s.type for s in container.streams]
        times, audio = [], []
        for packet in container.demux():
            if packet.stream is video and packet.size:
                stamp = packet.dts if is_avi else packet.pts
                times.append(None if stamp is None else float(stamp * packet.time_base))
            elif packet.stream.type == "audio" and packet.size:
                audio.append(float(packet.pts * packet.time_base) if packet.pts is not None else None)
        duration = _video_duration(video, container)
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.index == index)
        decoded = []
        for packet in container.demux(stream):
            try:
                decoded.extend(packet.decode())
            except av.FFmpegError:
                pass  # damaged input: count what decodes
    first = decoded[0]
    rotation = int(first.rotation or 0)
    image = _turn(first.to_ndarray(format="rgb24"), rotation)
    return Probe(frames=len(decoded), size=(image.shape[1], image.shape[0]), rotation=rotation,
                 duration=round(duration, 3),
                 times=[round(t, 3) for t in sorted(times)] if None not in times else [],
                 audio_packets=len(audio), audio_start=audio[0] if audio else None, streams=streams, first=image)


@dataclass
class Expect:
    """What a case must produce (``None``: not checked; ``SAME``: as the input)."""

    status: int = 0
    message: str | None = None  #: a substring of the command's output (stdout + stderr)
    frames: Any = SAME
    size: Any = SAME
    duration: Any = SAME
    times: Any = SAME
    audio_packets: Any = SAME
    streams: Any = SAME
    rotation: int | None = 0
    upright: Clip | None = None  #: the first frame must show this clip's displayed picture
    output: bool = True  #: an output file must exist (False: it must not)
    folder: list[str] | None = None  #: a batch: the files the output folder must hold


@dataclass
class Case:
    """One corpus row."""

    id: str
    make: Callable[[Path], Path]  #: builds the input(s) in a folder, returns the path to convert
    expect: Expect
    out: str = "out.mp4"
    args: list[str] = field(default_factory=list)


def clip(name: str, **spec: Any) -> Callable[[Path], Path]:
    """A maker for one :class:`Clip` written as ``name``."""
    return lambda folder: write(folder / name, Clip(**spec))


def damaged(how: Callable[[Path, Path], Path], name: str, **spec: Any) -> Callable[[Path], Path]:
    """A maker for a clip damaged by ``how`` after writing."""
    def make(folder: Path) -> Path:
        good = write(folder / f".good-{name}", Clip(**spec))  # hidden: a folder batch skips it
        return how(good, folder / name)
    return make


def image(name: str, orientation: int | None = None) -> Callable[[Path], Path]:
    """A maker for a photo, optionally with an EXIF orientation tag."""
    def make(folder: Path) -> Path:
        picture = Image.fromarray(upright_picture(0, 60, 80))
        path = folder / name
        if orientation == 6:  # stored turned counter-clockwise; viewers turn it clockwise
            exif = Image.Exif()
            exif[0x0112] = 6
            picture.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)
        else:
            picture.save(path)
        return path
    return make


def raw_bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name
    return make


def folder_of(**files: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """A maker for a folder holding several inputs (a batch)."""
    def make(folder: Path) -> Path:
        inputs = folder / "inputs"
        inputs.mkdir()
        for make_one in files.values():
            make_one(inputs)
        return inputs
    return make


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        tone = np.zeros((1, 16000), np.float32)
        for start in range(0, tone.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return path


VFR = [0, 1, 3, 4, 8, 9, 15, 16, 17, 23]  # 1/30 s units: the clip ends at 1.533 s
ROTATED = dict(width=96, height=64, frames=6)
CUT = dict(frames=60, fps=30, width=96, height=64)

CASES = [
    # -- containers and codecs: frames, times, duration and audio packets as the input --------
    Case("mp4-h264-aac", clip("in.mp4", frames=12), Expect()),
    Case("mp4-bframes", clip("in.mp4", frames=12, bframes=True), Expect()),
    Case("mkv-h264-aac", clip("in.mkv", frames=12), Expect(), out="out.mkv"),
    Case("mov-h264-aac", clip("in.mov", frames=12), Expect(), out="out.mov"),
    Case("m4v", clip("in.m4v", frames=8, audio=None), Expect(), out="out.m4v"),
    Case("webm-vp9-opus", clip("in.webm", frames=8, codec="libvpx-vp9", audio="libopus", audio_rate=48000),
         Expect(), out="out.webm"),
    Case("mpegts-h264-aac", clip("in.ts", frames=12), Expect(), out="out.ts"),
    # FLV keeps no stream durations (the file's is the muxer's last timestamp, audio included)
    Case("flv-h264-aac", clip("in.flv", frames=12, audio_rate=44100), Expect(duration=None), out="out.flv"),
    # MPEG-PS does not time every H.264 packet: times are checked through the frame count only
    # and FFmpeg estimates its durations from the bit rate
    Case("mpeg-ps-mpeg2-mp2", clip("in.mpg", frames=12, fps=25, codec="mpeg2video", audio="mp2",
                                   audio_rate=44100), Expect(times=None, duration=None), out="out.mpg"),
    Case("3gp", clip("in.3gp", frames=8, audio=None), Expect(), out="out.3gp"),
    Case("gif-to-mp4", clip("in.gif", frames=6, codec="gif", pix_fmt="rgb8", audio=None),
         Expect(streams=["video"]), out="out.mp4"),
    Case("odd-size-444", clip("in.mkv", frames=4, width=33, height=47, pix_fmt="yuv444p", audio=None),
         Expect(), out="out.mkv"),
    # -- AVI: no presentation timestamps; video must start with the audio -----------------
    Case("avi-h264-bframes-mp3", clip("in.avi", frames=31, audio="mp3", bframes=True),
         Expect(times=[round(i / 10, 3) for i in range(31)]), out="out.avi"),
    Case("avi-h264-to-mp4", clip("in.avi", frames=31, audio="mp3", bframes=True),
         Expect(times=[round(i / 10, 3) for i in range(31)], duration=3.1), out="out.mp4"),
    Case("avi-mpeg4-mp3", clip("in.avi", frames=20, codec="mpeg4", audio="mp3"), Expect(), out="out.avi"),
    Case("avi-mjpeg", clip("in.avi", frames=10, codec="mjpeg", pix_fmt="yuvj420p", audio=None),
         Expect(), out="out.avi"),
    # -- rotated and mirrored phone video: written upright, no rotation left -------------
    Case("rotated-90", clip("in.mp4", rotation=90, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=90, **ROTATED))),
    Case("rotated-minus-90", clip("in.mp4", rotation=-90, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=-90, **ROTATED))),
    Case("rotated-180", clip("in.mp4", rotation=180, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=180, **ROTATED))),
    Case("mirrored", clip("in.mp4", hflip=True, **ROTATED), Expect(size=(96, 64), upright=Clip(hflip=True, **ROTATED))),
    Case("rotated-mov", clip("in.mov", rotation=90, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=90, **ROTATED)), out="out.mov"),
    Case("rotated-mkv", clip("in.mkv", rotation=-90, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=-90, **ROTATED)), out="out.mkv"),
    Case("rotated-to-avi", clip("in.mp4", rotation=90, audio=None, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=90, **ROTATED)), out="out.avi"),
    Case("rotated-to-ts", clip("in.mp4", rotation=-90, **ROTATED),
         Expect(size=(96, 64), upright=Clip(rotation=-90, **ROTATED), times=None), out="out.ts"),
    # -- variable frame rate: every timestamp and the duration, last frame included -------
    Case("vfr-mp4", clip("in.mp4", pts=VFR, fps=30, last_duration=23), Expect(duration=1.533)),
    Case("vfr-mkv", clip("in.mkv", pts=VFR, fps=30, last_duration=23, audio=None),
         Expect(duration=1.533), out="out.mkv"),
    Case("vfr-mkv-to-mp4", clip("in.mkv", pts=VFR, fps=30, last_duration=23, audio=None),
         Expect(duration=1.533, streams=["video"]), out="out.mp4"),
    Case("vfr-mp4-to-mov", clip("in.mp4", pts=VFR, fps=30, last_duration=23, audio=None),
         Expect(duration=1.533), out="out.mov"),
    Case("long-last-frame", clip("in.mp4", frames=5, last_duration=20, audio=None), Expect(duration=2.4)),
    Case("audio-longer-than-video", clip("in.mkv", frames=10, audio_seconds=3.0), Expect(), out="out.mkv"),
    # -- damaged input: converted as far as it decodes, exit 3 (or 0 when allowed) ---------
    Case("mp4-index-first-cut", damaged(cut_in_half, "cut.mp4", options={"movflags": "faststart"}, **CUT),
         Expect(status=3, message="damaged input: decoded", frames=None, duration=None, times=None,
                audio_packets=None)),
    Case("mp4-cut-allowed", damaged(cut_in_half, "cut.mp4", options={"movflags": "faststart"}, **CUT),
         Expect(status=0, message="of 60 frames", frames=None, duration=None, times=None, audio_packets=None),
         args=["--allow-damaged"]),
    Case("mkv-cut", damaged(cut_in_half, "cut.mkv", **CUT),
         Expect(status=3, message="of ~60 frames", frames=None, duration=None, times=None, audio_packets=None),
         out="out.mkv"),
    Case("webm-cut", damaged(cut_in_half, "cut.webm", codec="libvpx-vp9", audio="libopus", audio_rate=48000, **CUT),
         Expect(status=3, message="the file ends early", frames=None, duration=None, times=None,
                audio_packets=None), out="out.webm"),
    Case("corrupt-packets", damaged(corrupt_middle, "bad.mp4", **CUT),
         Expect(status=3, message="decoding error", frames=None, duration=None, times=None, audio_packets=None)),
    Case("mp4-index-last-cut", damaged(cut_in_half, "cut.mp4", **CUT),
         Expect(status=1, message="cannot open cut.mp4", output=False)),
    Case("empty-file", raw_bytes("empty.mp4", b""), Expect(status=1, message="cannot open empty.mp4", output=False)),
    Case("not-a-video", raw_bytes("text.mp4", b"just some text, not a video\n" * 20),
         Expect(status=1, message="cannot open text.mp4", output=False)),
    Case("audio-only", lambda folder: _audio_only(folder / "audio.m4a"),
         Expect(status=1, message="has no video stream", output=False), out="out.m4a"),
    Case("batch-with-damage", folder_of(good=clip("a.mp4", frames=6),
                                        cut=damaged(cut_in_half, "b.mp4", options={"movflags": "faststart"}, **CUT)),
         Expect(status=3, message="2 converted, 1 damaged, 0 failed", output=False, folder=["a.mp4", "b.mp4"]),
         out="outdir"),
    # -- several streams ------------------------------------------------------------------------
    Case("second-video-stream", clip("in.mkv", frames=6, second_video=(48, 32)),
         Expect(message="video stream #1 (h264, 48x32) left out", streams=["video", "audio"]), out="out.mkv"),
    Case("pick-second-video-stream", clip("in.mkv", frames=6, second_video=(48, 32)),
         Expect(size=(48, 32), streams=["video", "audio"], upright=None), out="out.mkv", args=["--video-stream", "1"]),
    Case("missing-video-stream", clip("in.mkv", frames=6),
         Expect(status=1, message="has no video stream #5", output=False), out="out.mkv", args=["--video-stream", "5"]),
    Case("cover-art-kept", clip("in.mp4", frames=6, cover=True), Expect()),
    Case("cover-art-left-out", clip("in.mp4", frames=6, cover=True),
         Expect(message="cover picture #", streams=["video", "audio"]), out="out.mkv"),
    # -- sizes ----------------------------------------------------------------------------------
    Case("thin-8x1000", clip("in.mp4", frames=3, width=8, height=1000, audio=None),
         Expect(message="capped at 4096 pixels")),
    Case("wide-1000x8", clip("in.mp4", frames=3, width=1000, height=8, audio=None),
         Expect(message="capped at 4096 pixels")),
    # -- images ---------------------------------------------------------------------------------
    Case("photo-exif-rotated", image("photo.jpg", orientation=6), Expect(frames=None, size=(80, 60), duration=None,
                                                                       times=None, audio_packets=None, streams=None,
                                                                       rotation=None), out="out.jpg"),
    # -- encoders ---------------------------------------------------------------------------------
    Case("codec-auto-falls-back", clip("in.mp4", frames=6), Expect(message="video encoder libx264"),
         args=["--codec", "auto"]),
    Case("codec-auto-webm", clip("in.mp4", frames=6, audio=None), Expect(), out="out.webm", args=["--codec", "auto"]),
]


def _orientation_score(image: np.ndarray, reference: np.ndarray) -> float:
    """Correlation of two pictures' luminance layout (after resizing ``image`` to ``reference``)."""
    from PIL import Image as PILImage

    small = np.asarray(PILImage.fromarray(image).resize((reference.shape[1], reference.shape[0]))).mean(axis=2)
    ref = reference.mean(axis=2)
    return float(np.corrcoef(small.ravel(), ref.ravel())[0, 1])


def _check_upright(first: np.ndarray, expected: Clip) -> None:
    """The output's first frame matches the displayed picture better than any other turn of it."""
    reference = expected.displayed(0)
    candidates = {"upright": reference, "mirrored": reference[:, ::-1], "upside down": reference[::-1, ::-1],
                  "flipped": reference[::-1]}
    scores = {name: _orientation_score(first, image) for name, image in candidates.items()}
    assert max(scores, key=scores.__getitem__) == "upright", scores


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_convert_when_odd_or_damaged_input(case: Case, tmp_path: Path, style: list[str],
                                           capsys: pytest.CaptureFixture[str],
                                           caplog: pytest.LogCaptureFixture) -> None:
    # given
    source = case.make(tmp_path)
    out = tmp_path / case.out
    # when
    status = main(["convert", "--no-progress", "--backend", "cpu", "--size", "64", str(source), "-o", str(out),
                   *style, *case.args])
    printed = capsys.readouterr()
    text = printed.out + printed.err + caplog.text  # warnings go through logging
    # then
    expect = case.expect
    assert status == expect.status, text
    assert "Traceback" not in text
    if expect.message is not None:
        assert expect.message in text, text
    assert not [p.name for p in tmp_path.rglob("*") if ".partial-" in p.name]
    if expect.folder is not None:
        assert sorted(p.name for p in out.iterdir()) == expect.folder
    if not expect.output or status not in (0, 3):
        if not expect.output:
            assert not out.exists() or out.is_dir()
        return
    if out.suffix in (".jpg", ".png"):
        with Image.open(out) as result:
            assert result.size == expect.size
            _check_upright(np.asarray(result.convert("RGB")), Clip(width=80, height=60))
        return
    before, after = probe(source), probe(out)
    for name in ("frames", "size", "duration", "times", "audio_packets", "streams"):
        wanted = getattr(expect, name)
        if wanted is None:
            continue
        wanted = getattr(before, name) if wanted is SAME else wanted
        got = getattr(after, name)
        if name == "duration":
            assert got == pytest.approx(wanted, abs=0.0021), f"duration {got} != {wanted}"
        elif name == "times":  # MPEG-TS and FLV shift the whole file to keep B-frame decode times >= 0
            assert [t - got[0] for t in got] == pytest.approx([t - wanted[0] for t in wanted], abs=0.0011), \
                f"frame times {got} != {wanted}"
        else:
            assert got == wanted, f"{name}: {got} != {wanted}"
    if expect.rotation is not None:
        assert after.rotation == expect.rotation
    decoded = re.search(r"decoded (\d+)", text)
    if decoded:  # a damaged input: the output holds exactly the frames that decoded
        assert after.frames == int(decoded.group(1)) > 0
    if expect.upright is not None:
        _check_upright(after.first, expect.upright)
    if before.audio_start is not None and after.audio_start is not None and after.times:
        # audio and video keep their offset (the AVI bug moved video 2 frames late)
        assert after.times[0] - after.audio_start == pytest.approx(before.times[0] - before.audio_start, abs=0.0011)


def test_corpus_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
