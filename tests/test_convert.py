"""Batch conversion with real codecs: frames, timestamps, audio, sizes, many files, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from streamer.cli import main

from .media import leftovers, make_clip, pattern_frame


def probe(path: Path) -> dict:
    """Video frame times, size and the other streams' packets, read back with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        others = {s.index: s for s in container.streams if s is not video}
        packets: dict[int, list[tuple[float | None, bytes]]] = {i: [] for i in others}
        times, sizes = [], set()
        for packet in container.demux():
            if packet.stream is video:
                for frame in packet.decode():
                    times.append(round(float(frame.pts * frame.time_base), 4))
                    sizes.add((frame.width, frame.height))
            elif packet.size:
                pts = None if packet.pts is None else round(float(packet.pts * packet.time_base), 4)
                packets[packet.stream.index].append((pts, bytes(packet)))
        codecs = {s.index: s.codec_context.name for s in others.values()}
    return {"times": times, "sizes": sizes, "packets": list(packets.values()), "codecs": list(codecs.values())}


def convert(*args: str | Path) -> int:
    return main(["convert", "--no-progress", "--backend", "cpu", "--size", "96", *map(str, args)])


def test_video_keeps_frames_timestamps_size_and_audio_packets(tmp_path: Path, style: list[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=12, width=160, height=120, fps=10, audio="aac")
    out = tmp_path / "out.mp4"
    assert convert(source, "-o", out, *style) == 0
    before, after = probe(source), probe(out)
    assert after["times"] == before["times"] and len(after["times"]) == 12
    assert after["sizes"] == {(160, 120)}
    assert after["packets"] == before["packets"]  # audio copied bit for bit, same timestamps
    assert not leftovers(tmp_path)


def test_video_with_irregular_timestamps_keeps_them(tmp_path: Path, style: list[str]) -> None:
    source = tmp_path / "vfr.mkv"
    pts = [0, 1, 3, 4, 8, 9, 15]
    with av.open(str(source), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.codec_context.time_base = Fraction(1, 30)
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(pattern_frame(i, 64, 96), format="rgb24")
            f.pts, f.time_base = p, Fraction(1, 30)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    out = tmp_path / "vfr_out.mkv"
    assert convert(source, "-o", out, *style) == 0
    # Matroska stores milliseconds
    assert probe(out)["times"] == probe(source)["times"] == [round(p / 30, 3) for p in pts]


@pytest.mark.parametrize(("width", "height"), [(161, 121), (90, 160), (33, 47)], ids=["odd", "portrait", "tiny-odd"])
def test_video_output_has_exactly_the_input_resolution(tmp_path: Path, style: list[str], width: int,
                                                       height: int) -> None:
    even = width % 2 == 0 and height % 2 == 0
    source = make_clip(tmp_path / "in.mkv", frames=4, width=width, height=height,
                       pix_fmt="yuv420p" if even else "yuv444p", audio=None)
    out = tmp_path / "out.mkv"
    assert convert(source, "-o", out, *style) == 0
    assert probe(out)["sizes"] == {(width, height)}
    assert len(probe(out)["times"]) == 4


def test_webm_output_reencodes_audio_it_cannot_hold_and_says_so(tmp_path: Path, style: list[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=6, audio="aac")
    out = tmp_path / "out.webm"
    assert convert(source, "-o", out, *style) == 0
    result = probe(out)
    assert len(result["times"]) == 6 and result["codecs"] == ["opus"]
    assert any("re-encoded to libopus" in r.getMessage() for r in caplog.records)


def test_images_stylize_to_images_and_keep_transparency(tmp_path: Path, style: list[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(pattern_frame(1, 90, 120)).save(folder / "a.jpg")
    rgba = Image.fromarray(pattern_frame(2, 75, 61)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "b.png")
    Image.fromarray(pattern_frame(3, 64, 64)).save(folder / "c.webp")
    assert convert(folder, "-o", tmp_path / "out", *style) == 0
    with Image.open(tmp_path / "out" / "a.jpg") as a, Image.open(tmp_path / "out" / "b.png") as b, \
            Image.open(tmp_path / "out" / "c.webp") as c:
        assert (a.size, b.size, c.size) == ((120, 90), (61, 75), (64, 64))
        assert b.mode == "RGBA" and np.asarray(b)[..., 3].max() == 128
        assert np.abs(np.asarray(a.convert("RGB")).astype(int) - pattern_frame(1, 90, 120)).mean() > 10


def test_folder_with_a_bad_file_converts_the_rest_and_reports(tmp_path: Path, style: list[str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "good.mp4", frames=3)
    (folder / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    Image.fromarray(pattern_frame(0, 40, 40)).save(folder / "pic.png")
    out = tmp_path / "out"
    assert convert(folder, "-o", out, *style) == 1
    printed = capsys.readouterr().out
    assert "failed  " in printed and "bad.mp4" in printed and "2 converted, 1 failed" in printed
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", "pic.png"]


def test_truncated_video_fails_cleanly_without_output(tmp_path: Path, style: list[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = make_clip(tmp_path / "full.mp4", frames=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert convert(cut, "-o", tmp_path / "o.mp4", *style) == 1
    err = capsys.readouterr().err
    assert "cut.mp4" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style", "no-such-style"], "unknown style 'no-such-style'"),
        (["--size", "huge"], "invalid size 'huge'"),
        (["--crf", "99"], "--crf must be between 0 and 63"),
        (["--codec", "nonsense264"], "unknown video encoder 'nonsense264'"),
        (["--codec", "aac"], "aac is not a video encoder (it encodes audio)"),
        (["--model", "nope"], "unknown model 'nope'"),
    ],
    ids=["style", "size", "crf", "codec", "audio-codec", "model"],
)
def test_bad_options_give_one_line_error_and_no_output(tmp_path: Path, style: list[str], extra: list[str],
                                                       message: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=2)
    out = tmp_path / "out.mp4"
    assert convert(source, "-o", out, *style, *extra) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("streamer: error: ") and message in err[-1]
    assert not out.exists() and not leftovers(tmp_path)


def test_paths_that_would_lose_data_are_refused(tmp_path: Path, style: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=2)
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    assert convert(source, "-o", existing, *style) == 1
    assert existing.read_bytes() == b"keep me"
    assert convert(source, "-o", source, *style) == 1
    assert convert(tmp_path / "missing.mp4", "-o", tmp_path / "x.mp4", *style) == 1
    assert convert(source, "-o", tmp_path / "no" / "dir.mp4", *style) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("streamer: error:")]
    assert [e.split(": ", 2)[2][:40] for e in errors] and len(errors) == 4
    assert "already exists" in errors[0] and "also an input" in errors[1]
    assert "no such file" in errors[2] and "does not exist" in errors[3]


def test_reference_clip_with_audio_from_shared(shared: Path, tmp_path: Path, style: list[str]) -> None:
    source = shared / "media" / "video" / "realshort.mp4"
    out = tmp_path / "realshort.mp4"
    assert convert(source, "-o", out, *style) == 0
    before, after = probe(source), probe(out)
    assert len(after["times"]) == len(before["times"]) == 36
    assert after["times"] == before["times"] and after["sizes"] == before["sizes"]
    assert after["packets"] == before["packets"]


def _signal_mid_conversion(tmp_path: Path, style: list[str], signum: int,
                           launcher: tuple[str, ...] = ("-m", "streamer")) -> tuple[int, str, Path]:
    """Start ``convert`` of a 400-frame clip, send ``signum`` once it writes its partial output;
    return the exit status, stderr and the output path."""
    source = make_clip(tmp_path / "long.mp4", frames=400, width=320, height=240, fps=25)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, *launcher, "convert", str(source), "-o", str(out), *style,
                             "--size", "native", "--backend", "cpu"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while not any(".partial-" in p.name for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, out


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status", "message"), [
    (signal.SIGINT, 130, "streamer: interrupted"),
    (signal.SIGTERM, 143, "streamer: stopped by SIGTERM"),
    (signal.SIGHUP, 129, "streamer: stopped by SIGHUP"),
], ids=["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_convert_when_stopped_by_a_signal_leaves_no_partial_output(tmp_path: Path, style: list[str], signum: int,
                                                                   status: int, message: str) -> None:
    returncode, err, out = _signal_mid_conversion(tmp_path, style, signum)
    assert returncode == status, err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not leftovers(tmp_path)


# A library that takes Python's SIGINT handler while convert runs (Ray defers it while it submits
# a task): here the handler is replaced by one that does nothing once the conversion started.
_HANDLER_TAKEN = """
import signal, sys
from streamer.cli import convert, main
original = convert._convert
async def taken(args):
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    return await original(args)
convert._convert = taken
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_convert_when_a_library_took_the_sigint_handler_still_stops_on_ctrl_c(tmp_path: Path,
                                                                              style: list[str]) -> None:
    returncode, err, out = _signal_mid_conversion(tmp_path, style, signal.SIGINT, ("-c", _HANDLER_TAKEN))
    assert returncode == 130, err
    assert "streamer: interrupted" in err and "Traceback" not in err
    assert not out.exists() and not leftovers(tmp_path)


def test_convert_when_output_folder_is_read_only_gives_one_line(tmp_path: Path, style: list[str]) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=2)
    locked = tmp_path / "locked"
    locked.mkdir()
    command = [sys.executable, "-m", "streamer", "convert", str(source), "-o", str(locked / "out.mp4"), *style,
               "--backend", "cpu", "--no-progress"]
    if os.geteuid() != 0:
        locked.chmod(0o555)
    else:  # root writes anywhere a mode allows nothing: mount a read-only folder in a private namespace
        import shlex
        import shutil

        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
            pytest.skip("running as root without mount namespaces: no way to make a folder read-only")
        command = ["unshare", "-m", "sh", "-c",
                   f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(locked))} && exec {shlex.join(command)}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    errors = [line for line in done.stderr.splitlines() if line.startswith("streamer: error:")]
    assert done.returncode == 1, done.stderr
    assert errors == [f"streamer: error: cannot write into {locked}: Read-only file system"] or \
        errors == [f"streamer: error: cannot write into {locked}: Permission denied"], done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr


@pytest.mark.parametrize("kind", ["text", "truncated", "bomb"])
def test_bad_style_file_fails_before_any_output(tmp_path: Path, any_model: str, kind: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from .test_styles import png_claiming_size

    source = make_clip(tmp_path / "in.mp4", frames=2)
    bad = tmp_path / f"bad-{kind}.png"
    if kind == "text":
        bad.write_text("not an image")
    elif kind == "truncated":
        noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
        Image.fromarray(noise).save(bad)
        bad.write_bytes(bad.read_bytes()[:20000])
    else:
        bad.write_bytes(png_claiming_size(12000, 12000))
    out = tmp_path / "out.mp4"
    assert convert(source, "-o", out, "--model", any_model, "--style", bad) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("streamer: error: ") and bad.name in err
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("many", [False, True], ids=["one-file", "folder"])
def test_convert_when_inference_fails_exits_non_zero_with_one_line_and_no_output(
        tmp_path: Path, style: list[str], any_model: str, many: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    import streamer.cli.convert as convert_command

    from .fakes import failing_engine

    # given an engine whose transform raises on its fourth inference
    monkeypatch.setattr(convert_command, "create_engine", lambda args, **_: failing_engine(any_model, good_calls=3))
    folder = tmp_path / "in"
    folder.mkdir()
    first = make_clip(folder / "a.mp4", frames=10)
    make_clip(folder / "b.mp4", frames=10)
    out = tmp_path / "out"
    out.mkdir()
    # when converting (bounded: a hang fails the test instead of blocking it)
    status: list[int] = []
    worker = threading.Thread(target=lambda: status.append(convert(folder if many else first, "-o",
                                                                   out if many else out / "a.mp4", *style)))
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "convert hung after the inference thread failed"
    # then it exits non-zero with one line naming the failure, and leaves nothing behind
    assert status == [1]
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("streamer: error: inference failed: InferenceBroke: interpreter invoke failed")
    assert "Traceback" not in "\n".join(err)
    assert list(out.iterdir()) == [] and not leftovers(out)
