"""Stylizers under evaluation: ``(content [H,W,3], embedding [100]) -> stylized [H,W,3]``, float RGB."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.litert import Transform, magenta_at_size
from models.paths import shared_model

EVAL_SIZE = 384

Stylizer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def single_stylizer(transform: Transform) -> Stylizer:
    """One image at a time through a TFLite transform (any size the transform accepts)."""
    return lambda image, embedding: transform(image[None], embedding.reshape(1, 1, 1, 100))[0]


def magenta_stylizer(kind: str, size: int = EVAL_SIZE) -> Stylizer:
    """Magenta's ``fp16`` or ``int8`` transfer model, rewritten for ``size`` x ``size``."""
    return single_stylizer(Transform(magenta_at_size(shared_model(f"{kind}_transfer"), size, size)))
