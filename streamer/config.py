"""Option types shared by the engine, the CLI and the servers."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["MAX_LONG_SIDE", "Backend", "CpuPrecision", "Precision", "ProcessingSize", "QueuePolicy",
           "default_cache_dir"]

#: frames are never processed with a longer side than this (pixels): an 8x1000 clip at the
#: default short side of 384 would otherwise be stylized at 384x48000 (2.2 GB, 20 s a frame)
MAX_LONG_SIDE = 4096


class Backend(enum.StrEnum):
    """Which hardware runs the style transform."""

    AUTO = "auto"  #: try the GPU, fall back to the CPU and say why
    GPU = "gpu"  #: float16 transform on a GPU; fail if there is none
    CPU = "cpu"  #: int8 transform on the CPU with XNNPACK


class Precision(enum.StrEnum):
    """Numeric precision of a transform model file."""

    INT8 = "int8"
    FP16 = "fp16"


class CpuPrecision(enum.StrEnum):
    """Which transform the CPU runs (``--precision``)."""

    AUTO = "auto"  #: measure both on this machine (once, cached) and take the faster; float on a tie
    INT8 = "int8"  #: the int8 model (XNNPACK's quantized kernels)
    FLOAT = "float"  #: the float16-weight model, computed in float32 by XNNPACK

    @property
    def file_precision(self) -> Precision | None:
        """The model file this choice runs (``None`` for AUTO)."""
        return {CpuPrecision.INT8: Precision.INT8, CpuPrecision.FLOAT: Precision.FP16}.get(self)


class QueuePolicy(enum.StrEnum):
    """What a stream does when the inference queue is full."""

    LOSSLESS = "lossless"  #: the producer waits: every frame is processed (files)
    LATEST = "latest"  #: the oldest queued frame is dropped: latency stays bounded (live)


@dataclass(frozen=True)
class ProcessingSize:
    """The resolution at which frames are stylized; the output keeps the input's resolution.

    ``short_side`` scales the frame so its shorter side has that many pixels (aspect kept).
    ``None`` means the frame's native resolution. Both are rounded to the model's multiple.
    The longer side is capped at ``max_long_side`` (very long, thin frames; frames over 4K
    at ``native``): the frame is then scaled down to fit, aspect kept (see :meth:`cap_note`).

    .. code-block:: python

        ProcessingSize.parse("384").shape_for(720, 1280, multiple=8)  # (384, 680)
        ProcessingSize.parse("384").shape_for(1000, 8, multiple=4)  # (4096, 32): capped
    """

    short_side: int | None = 384
    max_long_side: int = MAX_LONG_SIDE

    @classmethod
    def parse(cls, text: str | int | None) -> ProcessingSize:
        """Parse ``"384"``, ``"native"`` (or ``None``) into a :class:`ProcessingSize`."""
        if text is None or (isinstance(text, str) and text.strip().lower() == "native"):
            return cls(None)
        value = str(text).strip().lower()
        if not value.isdigit():
            raise ConfigError(f"invalid size {text!r}: use a short-side length like 384 or 'native'")
        side = int(value)
        if not 64 <= side <= 4320:
            raise ConfigError(f"invalid size {side}: the short side must be between 64 and 4320")
        return cls(side)

    def shape_for(self, height: int, width: int, multiple: int = 4) -> tuple[int, int]:
        """Return the (height, width) to run the model at for a ``height`` x ``width`` frame."""
        if height <= 0 or width <= 0:
            raise ConfigError(f"invalid frame size {width}x{height}")
        scale = self._uncapped_scale(height, width)
        scale = min(scale, self.max_long_side / max(height, width))
        return (min(_round_to(height * scale, multiple), self._longest(multiple)),
                min(_round_to(width * scale, multiple), self._longest(multiple)))

    def _uncapped_scale(self, height: int, width: int) -> float:
        return 1.0 if self.short_side is None else self.short_side / min(height, width)

    def _longest(self, multiple: int) -> int:
        return max(multiple, self.max_long_side // multiple * multiple)

    def cap_note(self, height: int, width: int, multiple: int = 4) -> str | None:
        """A message when the long-side cap changes the processing shape of such frames, else None."""
        scale = self._uncapped_scale(height, width)
        if max(height, width) * scale <= self.max_long_side:
            return None
        h, w = self.shape_for(height, width, multiple)
        wanted = f"{_round_to(width * scale, multiple)}x{_round_to(height * scale, multiple)}"
        return (f"{width}x{height} frames are stylized at {w}x{h}, not {wanted}: the longer side is "
                f"capped at {self.max_long_side} pixels (--size sets the shorter side)")

    def __str__(self) -> str:
        return "native" if self.short_side is None else str(self.short_side)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


CACHE_DIR_ENV = "STREAMER_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$STREAMER_CACHE_DIR``, else the user cache directory (e.g. ``~/.cache/streamer``)."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("streamer", appauthor=False))
