"""The teacher: Magenta's arbitrary image stylization models, read from the shared data."""

from __future__ import annotations

import numpy as np

from models.imaging import style_input
from models.litert import Predictor, Transform, magenta_at_size
from models.paths import shared_model


class Teacher:
    """Magenta's style predictor and transfer network (``fp16`` or ``int8`` transfer).

    The transfer network is rewritten per processing size (see
    :func:`models.litert.magenta_at_size`); the rewritten interpreters are cached.
    """

    def __init__(self, transfer: str = "fp16", threads: int = 2) -> None:
        self._transfer_path = shared_model(f"{transfer}_transfer")
        self._threads = threads
        self._predictor = Predictor(shared_model("int8_prediction"), threads)
        self._transforms: dict[tuple[int, int], Transform] = {}

    def embed(self, style: np.ndarray) -> np.ndarray:
        """Embedding ``[100]`` of a preprocessed ``[256, 256, 3]`` float style image."""
        return self._predictor(style).reshape(100)

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        """Embedding ``[100]`` of a uint8 RGB image of any size (Magenta's preprocessing)."""
        return self.embed(style_input(image))

    def stylize(self, content: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """Stylize float ``[H, W, 3]`` content (H, W multiples of 4) -> float ``[H, W, 3]``."""
        height, width = content.shape[:2]
        transform = self._transforms.get((height, width))
        if transform is None:
            if len(self._transforms) >= 8:
                self._transforms.pop(next(iter(self._transforms)))
            model = magenta_at_size(self._transfer_path, height, width)
            transform = self._transforms[(height, width)] = Transform(model, self._threads)
        return transform(content[None], embedding.reshape(1, 1, 1, 100))[0]
