"""The TFLite interpreter implementation: LiteRT (``ai-edge-litert``), else ``tflite-runtime``.

LiteRT is the supported runtime; ``tflite_runtime`` is accepted only as a fallback import
(it is 2-4x slower on the same models and needs numpy < 2).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import BackendUnavailableError

__all__ = ["Runtime", "load_runtime", "native_logs_captured"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """An importable interpreter module and what it offers."""

    name: str  #: distribution name, e.g. ``"ai-edge-litert"``
    version: str
    module: ModuleType  #: the module holding ``Interpreter`` and ``load_delegate``

    @property
    def Interpreter(self) -> Any:  # noqa: N802 - mirrors the library's class name
        """The interpreter class."""
        return self.module.Interpreter

    def load_delegate(self, library: str, options: dict[str, Any] | None = None) -> Any:
        """Load an external delegate shared library (raises OSError/ValueError on failure)."""
        return self.module.load_delegate(library, options or {})

    @property
    def has_compiled_model(self) -> bool:
        """True if LiteRT's ``CompiledModel`` API (with hardware accelerators) is available."""
        try:
            importlib.import_module("ai_edge_litert.compiled_model")
        except ImportError:
            return False
        return self.name == "ai-edge-litert"


_CANDIDATES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)

_cached: Runtime | None = None


def load_runtime() -> Runtime:
    """Return the best available interpreter runtime.

    :raises BackendUnavailableError: neither LiteRT nor tflite-runtime is installed.
    """
    global _cached
    if _cached is not None:
        return _cached
    from importlib import metadata

    missing = []
    for dist, module_name in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing.append(f"{dist} ({exc})")
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "unknown"
        _cached = Runtime(dist, version, module)
        return _cached
    raise BackendUnavailableError(
        "no TFLite runtime is installed: pip install ai-edge-litert (" + "; ".join(missing) + ")"
    )


_quiet_lock = threading.RLock()
_quiet_depth = 0
_quiet_sink: Any = None  #: the outermost capture's temporary file, while one is active


@contextlib.contextmanager
def native_logs_captured() -> Iterator[list[str]]:
    """Capture what native code (LiteRT, XNNPACK, WebGPU) writes to stderr inside the block.

    LiteRT prints INFO/ERROR lines straight to file descriptor 2 while probing accelerators;
    they would bury the one-line backend report. The captured lines are yielded (filled in on
    exit, also when the block raises, so a caller can read why native code failed; a nested
    block gets the lines written while it ran) and the outermost block logs them at DEBUG
    level. Set ``STREAMER_NATIVE_LOGS=1`` to let them through (nothing is captured then).
    """
    global _quiet_depth, _quiet_sink
    lines: list[str] = []
    if os.environ.get("STREAMER_NATIVE_LOGS"):
        yield lines
        return
    with _quiet_lock:
        if _quiet_depth:  # nested: the outer block owns fd 2; report what was written meanwhile
            sink = _quiet_sink
            _flush_c_stdio()
            start = os.fstat(sink.fileno()).st_size
            _quiet_depth += 1
            try:
                yield lines
            finally:
                _quiet_depth -= 1
                _flush_c_stdio()
                lines.extend(_read_from(sink, start))
            return
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            _quiet_depth, _quiet_sink = 1, sink
            try:
                yield lines
            finally:
                _flush_c_stdio()
                os.dup2(saved, 2)
                os.close(saved)
                _quiet_depth, _quiet_sink = 0, None
                lines.extend(_read_from(sink, 0))
                for line in lines:
                    logger.debug("native: %s", line)


def _read_from(sink: Any, start: int) -> list[str]:
    """Lines of the capture file from byte ``start`` on (the fd's shared offset is left alone)."""
    return (
        os.pread(sink.fileno(), max(0, os.fstat(sink.fileno()).st_size - start), start)
        .decode("utf-8", "replace")
        .splitlines()
    )


def _flush_c_stdio() -> None:
    """Flush C-level stdio buffers, so native output lands in the capture, not after it."""
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
