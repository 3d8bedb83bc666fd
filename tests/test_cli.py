"""The command line: info, styles, errors as one line, python -m."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.cli import main


def test_info_reports_versions_models_and_backend_decision(any_model: str, capsys: pytest.CaptureFixture[str],
                                                           tmp_path) -> None:
    assert main(["info", "--model", any_model, "--gpu-delegate", str(tmp_path / "libgpu.so"),
                 "--precision", "int8"]) == 0
    out = capsys.readouterr().out
    assert "ai-edge-litert" in out and "models:" in out and any_model in out
    assert f"GPU not used: {tmp_path / 'libgpu.so'} not found" in out and "running: CPU int8 (XNNPACK" in out
    assert "CPU precision: --precision int8" in out


def test_info_with_gpu_backend_when_unavailable_fails_with_reason(any_model: str, tmp_path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--model", any_model, "--backend", "gpu", "--gpu-delegate", str(tmp_path / "x.so")]) == 1
    assert "streamer: error: --backend gpu:" in capsys.readouterr().err


def test_styles_lists_builtins(fast_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    for name in ("starry", "wave", "scream", "kandinsky"):
        assert name in out


def test_python_dash_m_runs_and_usage_errors_exit_2() -> None:
    ok = subprocess.run([sys.executable, "-m", "streamer", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("streamer ")
    bad = subprocess.run([sys.executable, "-m", "streamer", "convert"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_unexpected_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import streamer.cli.styles as styles_command

    def explode(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(styles_command, "run", explode)
    assert main(["styles"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "streamer: error: unexpected RuntimeError: boom (run with --debug for details)"


def test_bench_prints_transform_and_pipeline_tables(fast_model: str, tmp_path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny real run of ``streamer bench``: a generated clip, one round, JSON written."""
    report = tmp_path / "bench.json"
    assert main(["bench", "--model", fast_model, "--seconds", "0.05", "--frames", "6", "--rounds", "1",
                 "--clip", str(_clip(tmp_path)), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"| {fast_model} | cpu int8 |" in out and f"| {fast_model} | cpu float |" in out
    assert "convert / shared-core bound" in out and f"* {fast_model}: " in out
    figures = json.loads(report.read_text())
    (pipeline,) = figures["pipeline"]
    assert pipeline["frames"] == 6 and pipeline["pipeline_fps"] > 0 and pipeline["io_fps"] > 0
    bound = 1 / (1 / pipeline["bare_fps"] + 1 / pipeline["io_fps"])
    assert pipeline["pipeline_vs_bound"] == pytest.approx(pipeline["pipeline_fps"] / bound)
    assert pipeline["io_stylized_fps"] > 0 and "bound with the stylized encode cost" in out
    stylized = 1 / (1 / pipeline["bare_fps"] + 1 / pipeline["io_stylized_fps"])
    assert pipeline["pipeline_vs_stylized_bound"] == pytest.approx(pipeline["pipeline_fps"] / stylized)


def _clip(folder: Path) -> Path:
    from streamer.sources.synthetic import write_clip

    return write_clip(folder / "clip.mp4", frames=6, width=96, height=64)


# -- the first ten minutes: what a new user sees -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _streamer(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamer", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def test_cli_when_run_bare_lists_every_command() -> None:
    from streamer.cli import COMMANDS

    bare = _streamer()
    assert bare.returncode == 0 and bare.stderr == ""
    for name in COMMANDS:
        assert f"    {name} " in bare.stdout


@pytest.mark.parametrize("args", [["convert"], ["convert", "clip.mp4"], ["live", "--style", "starry"],
                                  ["frobnicate"], ["convert", "a.mp4", "--style", "x", "--mix", "2"],
                                  ["info", "--bogus"]])
def test_cli_usage_error_when_arguments_are_wrong_is_one_line(args: list[str]) -> None:
    bad = _streamer(*args)
    assert bad.returncode == 2 and bad.stdout == ""
    (line,) = bad.stderr.splitlines()
    assert line.startswith("streamer") and ": error: " in line and "--help'" in line


def test_convert_when_style_is_unknown_fails_before_any_backend_line(any_model: str, tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    bad = _streamer("convert", str(clip), "--model", any_model, "--style", "no_such_style",
                    "-o", str(tmp_path / "out.mp4"))
    assert bad.returncode == 1
    (line,) = bad.stderr.splitlines()
    assert line.startswith("streamer: error: unknown style 'no_such_style'")
    assert not (tmp_path / "out.mp4").exists()


def test_convert_when_there_is_no_gpu_says_so_in_one_short_line(any_model: str, tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    missing = tmp_path / "libtensorflowlite_gpu_delegate.so"
    run = _streamer("convert", str(clip), "--model", any_model, "--style", "starry", "--gpu-delegate",
                    str(missing), "-o", str(tmp_path / "out.mp4"), "--no-progress")
    assert run.returncode == 0, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("streamer: using CPU ") and len(line) <= 100
    assert line.endswith("; no usable GPU: 'streamer info' says why)") and str(missing) not in line
    verbose = _streamer("-v", "convert", str(clip), "--model", any_model, "--style", "starry", "--gpu-delegate",
                        str(missing), "-o", str(tmp_path / "out2.mp4"), "--no-progress")
    assert f"streamer: GPU not used: {missing} not found" in verbose.stderr
    assert "streamer: CPU precision: " in verbose.stderr


def test_convert_when_input_is_an_image_reports_an_image(any_model: str, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(photo)
    run = _streamer("convert", str(photo), "--model", any_model, "--style", "starry", "-o",
                    str(tmp_path / "out.png"))
    assert run.returncode == 0, run.stderr
    assert "(image, " in run.stdout and "frames" not in run.stdout


def test_bench_help_when_shown_names_no_relative_path() -> None:
    shown = _streamer("bench", "--help")
    assert shown.returncode == 0 and "../shared" not in shown.stdout and "cockatoo.mp4" in shown.stdout


def test_info_help_when_shown_explains_backend_and_precision() -> None:
    shown = " ".join(_streamer("info", "--help").stdout.split())
    assert "--backend {auto,gpu,cpu} gpu = float16 model on a GPU" in shown
    assert "--precision {auto,int8,float} the CPU model" in shown


def test_serve_when_webrtc_extra_is_missing_hint_never_names_pypi_streamer(tmp_path: Path) -> None:
    """With aiortc unimportable, the hint names the extra's packages or the unique distribution."""
    blocker = tmp_path / "blocked" / "aiortc"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for a test', name='aiortc')\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    run = _streamer("serve", "--port", "0", env=env)
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith("streamer: error: 'streamer serve' needs the webrtc extra (aiortc is missing): pip install ")
    assert "'streamer[" not in line and ("aiortc" in line.split("pip install ", 1)[1] or "streamer-nst[webrtc]" in line)


def test_install_hint_when_metadata_is_installed_names_the_extras_packages() -> None:
    from importlib import metadata

    from streamer.extras import DISTRIBUTION, install_hint

    hint = install_hint("webrtc")
    try:
        metadata.requires(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        assert hint == f"pip install '{DISTRIBUTION}[webrtc]' (in a checkout: pip install '.[webrtc]')"
        return
    assert hint.startswith("pip install ") and "aiortc" in hint and "aiohttp" in hint and "streamer" not in hint


def _readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(marker):].split("```", 2)[1]
    return " ".join(line.strip() for line in after.strip().splitlines())


def test_readme_quick_start_when_run_twice_succeeds_and_writes_outside_the_checkout(fast_model: str,
                                                                                   tmp_path: Path) -> None:
    """The Quick start's steps after the install, run as written (twice), with a scratch HOME."""
    steps = [s.strip() for s in _readme_command("<!-- quick-start -->").split("&&")]
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    run_steps = " && ".join(steps[3:])
    assert "~/streamer-demo/" in run_steps
    env = os.environ | {"HOME": str(tmp_path), "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                        os.environ.get("PATH", "")])}
    before = set(os.listdir(ROOT))
    for attempt in (1, 2):
        run = subprocess.run(["bash", "-c", run_steps], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, f"run {attempt}: {run.stderr}"
    assert (tmp_path / "streamer-demo" / "demo_starry.mp4").stat().st_size > 10_000
    assert set(os.listdir(ROOT)) == before  # nothing left in the repository folder
