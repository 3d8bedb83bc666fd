"""Hand-written stand-ins for tests: deliberately slow or failing transforms around a real one."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from streamer.engine import Engine
from streamer.inference.backends import BackendOptions
from streamer.inference.catalog import find_model_set
from streamer.inference.runners import TransformRunner
from streamer.inference.stylizer import Stylizer
from streamer.inference.worker import InferenceWorker

__all__ = ["FailingTransform", "InferenceBroke", "SlowTransform", "failing_engine", "slow_engine"]


class SlowTransform:
    """Wraps a real transform and sleeps ``delay`` seconds per call (inference slower than capture)."""

    def __init__(self, inner: TransformRunner, delay: float) -> None:
        self.inner = inner
        self.model = inner.model
        self.delay = delay
        self.calls = 0

    def run(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.run(content, styles)

    @property
    def supports_batching(self) -> bool:
        return self.inner.supports_batching

    def close(self) -> None:
        self.inner.close()


class InferenceBroke(RuntimeError):
    """What :class:`FailingTransform` raises (a native interpreter error, say)."""


class FailingTransform(SlowTransform):
    """A real transform that works ``good_calls`` times, then raises :class:`InferenceBroke`."""

    def __init__(self, inner: TransformRunner, good_calls: int, delay: float = 0.0) -> None:
        super().__init__(inner, delay)
        self.good_calls = good_calls

    def run(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        if self.calls >= self.good_calls:
            self.calls += 1
            raise InferenceBroke(f"interpreter invoke failed on call {self.calls}")
        return super().run(content, styles)


def _engine_with(model: str, wrap: Callable[[TransformRunner], TransformRunner], max_batch: int) -> Engine:
    model_set = find_model_set(model)
    options = BackendOptions(backend="cpu", threads=2)

    def open_wrapped() -> Stylizer:
        real = Stylizer.open(model_set, options)
        return Stylizer(wrap(real.transform), real.predictor, real.report)

    return Engine(model_set, InferenceWorker(open_wrapped, max_batch=max_batch))


def slow_engine(model: str, delay: float, max_batch: int = 1) -> Engine:
    """An :class:`Engine` on the CPU whose transform takes at least ``delay`` s per call."""
    return _engine_with(model, lambda real: SlowTransform(real, delay), max_batch)


def failing_engine(model: str, good_calls: int = 0, delay: float = 0.0, max_batch: int = 1) -> Engine:
    """An :class:`Engine` on the CPU whose transform raises after ``good_calls`` inferences."""
    return _engine_with(model, lambda real: FailingTransform(real, good_calls, delay), max_batch)
