"""Choosing where the transform runs: GPU (float16) if it really works, else CPU (int8, XNNPACK).

The GPU is tried in this order, and every failure is kept as a reason:

1. an external TFLite GPU delegate library, loaded with ``load_delegate``: the path given by
   ``--gpu-delegate`` / ``$STREAMER_GPU_DELEGATE``, else ``libtensorflowlite_gpu_delegate.so``
   from the library search path;
2. LiteRT's ``CompiledModel`` with its GPU accelerator (WebGPU/OpenCL, needs a GPU driver).

A candidate counts only if it prepares the model and completes one inference. On the CPU the
int8 or the float transform runs, whichever :mod:`.precision` measured faster on this machine
(or the one ``--precision`` names).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import Backend, CpuPrecision, Precision
from ..errors import BackendUnavailableError, ConfigError, ModelError
from .catalog import ModelSet
from .modelfile import EMBEDDING_DIM, TransformModel
from .precision import PrecisionCache, label, open_cpu_transform
from .runners import CompiledModelTransform, InterpreterTransform, TransformRunner
from .runtime import load_runtime, native_logs_captured

__all__ = [
    "DEFAULT_GPU_DELEGATE",
    "BackendOptions",
    "BackendReport",
    "default_threads",
    "open_transform",
]

DEFAULT_GPU_DELEGATE = "libtensorflowlite_gpu_delegate.so"
GPU_DELEGATE_ENV = "STREAMER_GPU_DELEGATE"


def default_threads() -> int:
    """CPU threads for inference: every core this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


@dataclass(frozen=True)
class BackendOptions:
    """What the user asked for (``--backend``, ``--threads``, ``--gpu-delegate``, ``--precision``)."""

    backend: Backend = Backend.AUTO
    threads: int = field(default_factory=default_threads)
    gpu_delegate: str | None = None
    precision: CpuPrecision = CpuPrecision.AUTO  #: the CPU transform's precision
    precision_cache: PrecisionCache | None = None  #: where measured decisions are kept (default: cache dir)

    def delegate_library(self) -> tuple[str, bool]:
        """The GPU delegate library to try, and whether the user named it explicitly."""
        explicit = self.gpu_delegate or os.environ.get(GPU_DELEGATE_ENV)
        return (explicit, True) if explicit else (DEFAULT_GPU_DELEGATE, False)


@dataclass(frozen=True)
class BackendReport:
    """Which backend runs, with what, and why the GPU was not used (if it was not)."""

    backend: Backend  #: GPU or CPU: what actually runs
    precision: Precision
    detail: str  #: e.g. "XNNPACK, 2 threads" or "GPU delegate libfoo.so"
    model_file: str
    fallback_reason: str | None = None  #: why the GPU was not used (``--backend auto`` only)
    precision_reason: str | None = None  #: why this CPU precision (measured, asked, or the only one)

    @property
    def running(self) -> str:
        """What runs, e.g. ``CPU float (XNNPACK, 2 threads)`` or ``GPU fp16 (LiteRT GPU accelerator)``."""
        precision = label(self.precision) if self.backend is Backend.CPU else self.precision.value
        return f"{self.backend.value.upper()} {precision} ({self.detail})"

    @property
    def summary(self) -> str:
        """One short line for the start of a command (the reasons are in :attr:`details`)."""
        if self.fallback_reason:
            return f"using {self.running[:-1]}; no usable GPU: 'streamer info' says why)"
        return f"using {self.running}"

    @property
    def details(self) -> list[str]:
        """Every reason behind the choice, one per line (``streamer info``, ``--verbose``)."""
        lines = [f"running: {self.running}, {self.model_file}"]
        if self.fallback_reason:
            lines.append(f"GPU not used: {self.fallback_reason}")
        if self.precision_reason:
            lines.append(f"CPU precision: {self.precision_reason}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form, for ``--stats-json`` and the server API."""
        return {
            "backend": self.backend.value,
            "precision": self.precision.value,
            "detail": self.detail,
            "model_file": self.model_file,
            "fallback_reason": self.fallback_reason,
            "precision_reason": self.precision_reason,
            "summary": self.summary,
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def _smoke_test(runner: TransformRunner) -> None:
    """One tiny inference, so a backend that loads but cannot run is rejected up front."""
    h, w = runner.model.native_shape
    content = np.full((1, h, w, 3), 0.5, np.float32)
    runner.run(content, np.zeros((1, EMBEDDING_DIM), np.float32))


def _check_delegate_library(library: str) -> None:
    """Reject a missing library or one without the external-delegate entry points.

    Checked with ctypes first because ``load_delegate`` on such a library leaves a half-built
    object whose finalizer prints a traceback.
    """
    import ctypes

    try:
        handle = ctypes.CDLL(library)
    except OSError as exc:
        detail = _first_line(exc)
        if "cannot open shared object" in detail or "No such file" in detail:
            raise BackendUnavailableError(f"{library} not found") from exc
        raise BackendUnavailableError(f"{library} cannot be loaded: {detail}") from exc
    for symbol in ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate"):
        if not hasattr(handle, symbol):
            raise BackendUnavailableError(f"{library} is not a TFLite delegate (no {symbol})")


def _try_delegate(model: TransformModel, library: str, threads: int) -> TransformRunner:
    _check_delegate_library(library)
    runtime = load_runtime()
    try:
        runtime.load_delegate(library)  # created once up front, to report its own error
    except (OSError, ValueError, RuntimeError) as exc:
        detail = " ".join(str(exc).split("\n")[1:]).strip() or _first_line(exc)
        raise BackendUnavailableError(f"{library} failed to create a delegate: {detail}") from exc
    runner = InterpreterTransform(model, threads, make_delegates=lambda: [runtime.load_delegate(library)])
    try:
        _smoke_test(runner)
    except Exception as exc:
        runner.close()
        raise BackendUnavailableError(f"{library} cannot run {model.name}: {_first_line(exc)}") from exc
    return runner


_NO_ADAPTER_HINT = (
    "LiteRT's WebGPU runs on Vulkan: it needs libvulkan.so.1 and a GPU's Vulkan driver; "
    "software Vulkan such as llvmpipe does not count"
)


def _native_failure(lines: list[str]) -> str | None:
    """The first error LiteRT logged natively (``ERROR: [file.cc:123] message``), if any."""
    for line in lines:
        if line.startswith("ERROR: [") and "] " in line:
            message = line.split("] ", 1)[1].strip()
            if message:
                if "No adapters found" in message:
                    message += f" ({_NO_ADAPTER_HINT})"
                return message
    return None


def _try_compiled_gpu(model: TransformModel, threads: int) -> TransformRunner:
    runtime = load_runtime()
    if not runtime.has_compiled_model:
        raise BackendUnavailableError(f"{runtime.name} has no CompiledModel API")
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    native: list[str] = []
    try:
        with native_logs_captured() as native:
            runner = CompiledModelTransform(model, HardwareAccelerator.GPU, threads)
            try:
                _smoke_test(runner)
            except BaseException:
                runner.close()
                raise
    except Exception as exc:
        reason = _native_failure(native) or _first_line(exc)
        if reason.startswith("ERROR: ["):  # LiteRT's status trace, and nothing better was logged
            reason = "no usable GPU (WebGPU/OpenCL adapter) found"
        raise BackendUnavailableError(f"LiteRT GPU accelerator: {reason}") from exc
    return runner


def _open_gpu(model_set: ModelSet, options: BackendOptions) -> tuple[TransformRunner, str]:
    model = model_set.load_transform(Precision.FP16)
    library, explicit = options.delegate_library()
    reasons = []
    try:
        return _try_delegate(model, library, options.threads), f"GPU delegate {os.path.basename(library)}"
    except BackendUnavailableError as exc:
        if explicit:
            raise
        reasons.append(str(exc))
    try:
        return _try_compiled_gpu(model, options.threads), "LiteRT GPU accelerator"
    except BackendUnavailableError as exc:
        reasons.append(str(exc))
    raise BackendUnavailableError("; ".join(reasons))


def open_transform(model_set: ModelSet, options: BackendOptions) -> tuple[TransformRunner, BackendReport]:
    """Prepare the transform on the best allowed backend (call on the inference thread).

    :raises BackendUnavailableError: ``--backend gpu`` was asked for and no GPU path works.
    :raises ConfigError: ``--precision`` was given with ``--backend gpu`` (the GPU runs fp16).
    :raises ModelError: the model files are missing or invalid.
    """
    backend = Backend(options.backend)
    precision = CpuPrecision(options.precision)
    if backend is Backend.GPU and precision is not CpuPrecision.AUTO:
        raise ConfigError(f"--precision {precision.value} applies to the CPU; the GPU runs the fp16 model")
    reason = None
    if backend in (Backend.GPU, Backend.AUTO):
        try:
            if Precision.FP16 not in model_set.transforms:
                raise BackendUnavailableError(f"model {model_set.name!r} has no fp16 transform")
            with native_logs_captured():
                runner, detail = _open_gpu(model_set, options)
            report = BackendReport(Backend.GPU, Precision.FP16, detail, runner.model.name)
            return runner, report
        except (BackendUnavailableError, ModelError) as exc:
            if backend is Backend.GPU:
                raise BackendUnavailableError(f"--backend gpu: {exc}") from exc
            reason = str(exc)
    cpu, choice = open_cpu_transform(model_set, options.threads, precision, options.precision_cache)
    detail = f"XNNPACK, {options.threads} thread{'s' if options.threads != 1 else ''}"
    report = BackendReport(Backend.CPU, cpu.model.precision, detail, cpu.model.name, reason, choice.reason)
    return cpu, report
