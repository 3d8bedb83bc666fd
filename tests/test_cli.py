"""The command line: info, styles, errors as one line, python -m."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streamer.cli import main


def test_info_reports_versions_models_and_backend_decision(any_model: str, capsys: pytest.CaptureFixture[str],
                                                           tmp_path) -> None:
    assert main(["info", "--model", any_model, "--gpu-delegate", str(tmp_path / "libgpu.so")]) == 0
    out = capsys.readouterr().out
    assert "ai-edge-litert" in out and "models:" in out and any_model in out
    assert f"{tmp_path / 'libgpu.so'} not found" in out and "using cpu int8 (XNNPACK" in out


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
