"""Hand-written stand-ins for tests: a deliberately slow transform around a real one."""

from __future__ import annotations

import time

import numpy as np

from streamer.engine import Engine
from streamer.inference.backends import BackendOptions
from streamer.inference.catalog import find_model_set
from streamer.inference.runners import TransformRunner
from streamer.inference.stylizer import Stylizer
from streamer.inference.worker import InferenceWorker

__all__ = ["SlowTransform", "slow_engine"]


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
        return bool(getattr(self.inner, "supports_batching", False))

    def close(self) -> None:
        self.inner.close()


def slow_engine(model: str, delay: float, max_batch: int = 1) -> Engine:
    """An :class:`Engine` on the CPU whose transform takes at least ``delay`` s per call."""
    model_set = find_model_set(model)
    options = BackendOptions(backend="cpu", threads=2)

    def open_slow() -> Stylizer:
        real = Stylizer.open(model_set, options)
        return Stylizer(SlowTransform(real.transform, delay), real.predictor, real.report)

    return Engine(model_set, InferenceWorker(open_slow, max_batch=max_batch))
