"""Backend choice: the GPU paths fail for real here and fall back to the CPU, with the reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamer.config import Backend, CpuPrecision, Precision
from streamer.errors import BackendUnavailableError
from streamer.inference.backends import BackendOptions, open_transform
from streamer.inference.catalog import find_model_set
from streamer.inference.modelfile import TransformModel
from streamer.inference.runners import CompiledModelTransform, InterpreterTransform

FAILING_DELEGATE_C = r"""
#include <stddef.h>
typedef void (*report_fn)(const char *);
void *tflite_plugin_create_delegate(char **keys, char **values, size_t n, report_fn report) {
    if (report) report("no GPU device available (test delegate)");
    return NULL;
}
void tflite_plugin_destroy_delegate(void *delegate) { (void)delegate; }
"""


@pytest.fixture(scope="module")
def failing_delegate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real shared library with the external-delegate entry points that refuses to create one."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test delegate library")
    folder = tmp_path_factory.mktemp("delegate")
    source = folder / "failing_delegate.c"
    source.write_text(FAILING_DELEGATE_C)
    library = folder / "libfailing_delegate.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def _open(model: str, **options: object) -> tuple[object, object]:
    runner, report = open_transform(find_model_set(model), BackendOptions(**options))
    runner.close()
    return runner, report


def test_auto_when_delegate_library_is_absent_falls_back_to_the_cpu(any_model: str, tmp_path: Path) -> None:
    missing = tmp_path / "libtensorflowlite_gpu_delegate.so"
    runner, report = _open(any_model, backend=Backend.AUTO, threads=2, gpu_delegate=str(missing),
                           precision=CpuPrecision.INT8)
    assert isinstance(runner, InterpreterTransform)
    assert report.backend is Backend.CPU and report.precision is Precision.INT8
    assert f"{missing} not found" in report.fallback_reason


def test_report_when_the_gpu_is_missing_is_one_short_line_with_reasons_in_details(any_model: str,
                                                                                 tmp_path: Path) -> None:
    missing = tmp_path / "libtensorflowlite_gpu_delegate.so"
    _, report = _open(any_model, backend=Backend.AUTO, threads=2, gpu_delegate=str(missing),
                      precision=CpuPrecision.INT8)
    assert report.summary == "using CPU int8 (XNNPACK, 2 threads; no usable GPU: 'streamer info' says why)"
    assert str(missing) not in report.summary
    details = "\n".join(report.details)
    assert f"GPU not used: {missing} not found" in details and "CPU precision: --precision int8" in details


def test_auto_when_library_is_not_a_delegate_says_so(any_model: str) -> None:
    _, report = _open(any_model, backend=Backend.AUTO, threads=1, gpu_delegate="libm.so.6")
    assert report.backend is Backend.CPU
    assert "is not a TFLite delegate" in report.fallback_reason


def test_auto_when_delegate_fails_to_create_reports_its_message(any_model: str, failing_delegate: Path) -> None:
    _, report = _open(any_model, backend=Backend.AUTO, threads=2, gpu_delegate=str(failing_delegate))
    assert report.backend is Backend.CPU
    assert "failed to create a delegate" in report.fallback_reason
    assert "no GPU device available (test delegate)" in report.fallback_reason


def test_delegate_from_environment_is_used(any_model: str, failing_delegate: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMER_GPU_DELEGATE", str(failing_delegate))
    _, report = _open(any_model, backend=Backend.AUTO, threads=2)
    assert str(failing_delegate) in report.fallback_reason


def test_auto_without_explicit_delegate_also_tries_litert_gpu_accelerator(any_model: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMER_GPU_DELEGATE", raising=False)
    _, report = _open(any_model, backend=Backend.AUTO, threads=2)
    if report.backend is Backend.GPU:
        pytest.skip(f"this machine has a working GPU path: {report.summary}")
    assert "libtensorflowlite_gpu_delegate.so not found" in report.fallback_reason
    assert "LiteRT GPU accelerator" in report.fallback_reason


def test_gpu_when_unavailable_raises_with_reason(any_model: str, failing_delegate: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="--backend gpu: .*failed to create a delegate"):
        _open(any_model, backend=Backend.GPU, threads=2, gpu_delegate=str(failing_delegate))


def test_cpu_backend_never_probes_the_gpu(any_model: str, failing_delegate: Path) -> None:
    _, report = _open(any_model, backend=Backend.CPU, threads=1, gpu_delegate=str(failing_delegate),
                      precision=CpuPrecision.FLOAT)
    assert report.backend is Backend.CPU and report.fallback_reason is None
    assert report.summary == "using CPU float (XNNPACK, 1 thread)"


def test_compiled_model_path_on_cpu_accelerator_matches_interpreter(any_model: str) -> None:
    """The GPU runner's code (LiteRT CompiledModel, buffers, resizing) checked on the CPU accelerator."""
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    model = TransformModel.load(find_model_set(any_model).transform_path(Precision.FP16), Precision.FP16)
    rng = np.random.default_rng(0)
    content = rng.random((1, 96, 128, 3), dtype=np.float32)
    style = rng.random((1, 100), dtype=np.float32)
    compiled = CompiledModelTransform(model, HardwareAccelerator.CPU, threads=2)
    interpreted = InterpreterTransform(model, threads=2)
    try:
        a = compiled.run(content, style)
        b = interpreted.run(content, style)
    finally:
        compiled.close()
        interpreted.close()
    assert a.shape == b.shape == (1, 96, 128, 3)
    assert np.abs(a - b).mean() < 2 / 255
