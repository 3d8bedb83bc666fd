"""The command line: info, styles, errors as one line, python -m."""

from __future__ import annotations

import json
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


def _clip(folder: Path) -> Path:
    from streamer.sources.synthetic import write_clip

    return write_clip(folder / "clip.mp4", frames=6, width=96, height=64)
