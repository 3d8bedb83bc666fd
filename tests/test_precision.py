"""CPU precision by measurement: the decision, its cache, the override and the report, with real runners.

Timings here are real but tiny (64x64 frames); no test asserts which precision is faster, only
that the choice follows the figures, the cache and the options.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.config import Backend, CpuPrecision, Precision
from streamer.errors import ConfigError, ModelError
from streamer.inference.backends import BackendOptions, open_transform
from streamer.inference.catalog import find_model_set
from streamer.inference.precision import PrecisionCache, choose_faster, open_cpu_transform

TINY = (64, 64)


def _open(model: str, cache: PrecisionCache, asked: CpuPrecision = CpuPrecision.AUTO, threads: int = 1,
          shape: tuple[int, int] = TINY):
    runner, choice = open_cpu_transform(find_model_set(model), threads, asked, cache, shape=shape, budget_s=0.05)
    runner.close()
    return runner, choice


def _entries(cache: PrecisionCache) -> dict:
    return json.loads(cache.path.read_text())["entries"]


def test_choose_faster_when_within_five_percent_prefers_float() -> None:
    assert choose_faster(int8_ms=8.0, float_ms=10.0) is Precision.INT8
    assert choose_faster(int8_ms=12.0, float_ms=10.0) is Precision.FP16
    assert choose_faster(int8_ms=9.7, float_ms=10.0) is Precision.FP16  # a tie: the cleaner picture
    assert choose_faster(int8_ms=9.4, float_ms=10.0) is Precision.INT8


def test_auto_when_cache_is_empty_measures_both_and_stores_the_decision(any_model: str, tmp_path: Path) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    runner, choice = _open(any_model, cache)
    assert not choice.cached and choice.int8_ms > 0 and choice.float_ms > 0
    assert choice.precision is choose_faster(choice.int8_ms, choice.float_ms)
    assert runner.model.precision is choice.precision
    ((key, entry),) = _entries(cache).items()
    assert entry["precision"] == choice.precision.value and entry["threads"] == 1
    assert entry["int8_ms"] == pytest.approx(choice.int8_ms, abs=1e-3)
    assert "measured now" in choice.reason and "64x64 frame with 1 thread" in choice.reason


@pytest.mark.parametrize(("int8_ms", "float_ms", "expected"), [(1.0, 9.0, Precision.INT8),
                                                               (9.0, 1.0, Precision.FP16)])
def test_auto_when_cache_holds_a_decision_uses_it_without_measuring(any_model: str, tmp_path: Path,
                                                                    int8_ms: float, float_ms: float,
                                                                    expected: Precision) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    _open(any_model, cache)  # measure once, to learn this machine's key
    (key,) = _entries(cache)
    cache.put(key, {"precision": expected.value, "int8_ms": int8_ms, "float_ms": float_ms, "date": "2026-01-02"})
    runner, choice = _open(any_model, cache)
    assert choice.cached and choice.precision is expected and runner.model.precision is expected
    assert (choice.int8_ms, choice.float_ms) == (int8_ms, float_ms)
    assert "measured 2026-01-02, cached" in choice.reason


def test_auto_when_threads_or_shape_differ_measures_again(any_model: str, tmp_path: Path) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    _open(any_model, cache, threads=1)
    _open(any_model, cache, threads=2)
    _open(any_model, cache, threads=1, shape=(64, 96))
    _, again = _open(any_model, cache, threads=2)
    assert len(_entries(cache)) == 3 and again.cached


def test_auto_when_cache_file_is_corrupt_measures_and_rewrites_it(any_model: str, tmp_path: Path) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    cache.path.write_text("{not json")
    _, choice = _open(any_model, cache)
    assert not choice.cached and len(_entries(cache)) == 1


def test_auto_when_cache_folder_is_unwritable_still_runs(any_model: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = PrecisionCache(blocker / "precision.json")  # its folder is a file: cannot be created
    runner, choice = _open(any_model, cache)
    assert runner.model.precision is choice.precision and not cache.path.exists()


@pytest.mark.parametrize(("asked", "expected"), [(CpuPrecision.INT8, Precision.INT8),
                                                 (CpuPrecision.FLOAT, Precision.FP16)])
def test_precision_when_asked_runs_that_model_without_measuring(any_model: str, tmp_path: Path,
                                                                asked: CpuPrecision, expected: Precision) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    runner, choice = _open(any_model, cache, asked)
    assert runner.model.precision is expected and choice.precision is expected
    assert choice.reason == f"--precision {asked.value}" and choice.int8_ms is None
    assert not cache.path.exists()


def test_auto_when_model_has_only_int8_runs_it_and_says_why(any_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "only-int8"
    folder.mkdir()
    (folder / "x_int8_transfer.tflite").symlink_to(find_model_set(any_model).transform_path(Precision.INT8))
    cache = PrecisionCache(tmp_path / "precision.json")
    runner, choice = _open(str(folder), cache)
    assert runner.model.precision is Precision.INT8 and "the only CPU transform" in choice.reason
    with pytest.raises(ModelError, match="has no fp16 transform"):
        _open(str(folder), cache, CpuPrecision.FLOAT)


def test_open_transform_when_precision_is_given_with_gpu_backend_refuses(any_model: str) -> None:
    with pytest.raises(ConfigError, match="--precision int8 applies to the CPU"):
        open_transform(find_model_set(any_model), BackendOptions(Backend.GPU, 1, precision=CpuPrecision.INT8))


def test_open_transform_reports_the_measured_decision(any_model: str, tmp_path: Path) -> None:
    cache = PrecisionCache(tmp_path / "precision.json")
    runner, report = open_transform(find_model_set(any_model),
                                    BackendOptions(Backend.CPU, 1, precision_cache=cache))
    runner.close()
    name = "float" if report.precision is Precision.FP16 else "int8"
    assert report.summary == f"using CPU {name} (XNNPACK, 1 thread)"
    assert report.precision_reason.startswith(f"{name}, ") and "measured now" in report.precision_reason
    assert report.details[-1] == f"CPU precision: {report.precision_reason}"


def test_info_when_run_twice_reports_the_cached_decision(any_model: str, tmp_path: Path) -> None:
    """``streamer info`` measures on the first run, reuses the decision on the second."""
    command = [sys.executable, "-m", "streamer", "info", "--model", any_model, "--backend", "cpu"]
    env = os.environ | {"STREAMER_CACHE_DIR": str(tmp_path)}
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    line1 = next(line for line in first.stdout.splitlines() if "CPU precision:" in line)
    line2 = next(line for line in second.stdout.splitlines() if "CPU precision:" in line)
    assert "measured now" in line1 and "cached" in line2
    assert line1.split("(")[0] == line2.split("(")[0]  # same decision and figures
    assert (tmp_path / "precision.json").is_file()
    third = subprocess.run([*command, "--remeasure"], capture_output=True, text=True, env=env, timeout=120)
    assert "measured now" in next(line for line in third.stdout.splitlines() if "CPU precision:" in line)


def test_cache_when_told_not_to_reuse_measures_again_and_stores(any_model: str, tmp_path: Path) -> None:
    path = tmp_path / "precision.json"
    _open(any_model, PrecisionCache(path))
    (key,) = _entries(PrecisionCache(path))
    PrecisionCache(path).put(key, {"precision": "int8", "int8_ms": 1.0, "float_ms": 99.0, "date": "2020-01-01"})
    _, choice = _open(any_model, PrecisionCache(path, reuse=False))
    assert not choice.cached and _entries(PrecisionCache(path))[key]["date"] != "2020-01-01"
