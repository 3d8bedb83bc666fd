"""benchmarks/gpu_check.py end to end on this machine: a real GPU run, or a clean, explained fallback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_when_run_then_reports_backend_timings_and_agreement(tmp_path: Path) -> None:
    # given / when: two small sizes (odd width for the aspect-ratio path), few iterations
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--size", "64x96", "--size", "40x56",
         "--iters", "2", "--warmup", "1", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    # then
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    backend = report["backend"]
    if backend["backend"] == "gpu":  # a machine with a usable GPU: it must agree with the CPU
        assert backend["fallback_reason"] is None
        for row in report["sizes"]:
            assert row["gpu_vs_float"]["psnr_db"] > 40, row
    else:  # no GPU: the CPU model measured faster here, and a reason naming both GPU candidates
        assert backend["backend"] == "cpu" and backend["precision"] in ("int8", "fp16")
        assert "gpu_delegate" in backend["fallback_reason"] and "LiteRT GPU accelerator" in backend["fallback_reason"]
        assert "Traceback" not in result.stdout + result.stderr
    assert [row["size"] for row in report["sizes"]] == ["64x96", "40x56"]
    for row in report["sizes"]:
        assert row["cpu_int8"]["median_ms"] > 0
        assert row["cpu_int8_vs_float"]["psnr_db"] > 25, row
