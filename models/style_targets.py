"""Style-image targets of the fine-tune stage: which style image each training sample stands for.

The transform set stores each sample's conditioning embedding. Those drawn from the style pool's
``canonical`` or ``crops`` rows (:func:`models.data.style_pool`) come from a known image: a training
style, or a crop of one replayed from the pool's random stream (:func:`models.data.style_crops`).
Mixes and photos used as styles have none (index -1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from models import data
from models.config import Config
from models.imaging import style_input

if TYPE_CHECKING:  # TensorFlow only where the Gram matrices are computed
    from models.feature_net import Features


def pool_images(config: Config) -> list[np.ndarray]:
    """The images behind the pool's ``canonical`` then ``crops`` rows (uint8 RGB)."""
    styles = data.synthetic_sources(config.seed).styles if config.synthetic else data.training_style_images()
    return [*styles, *data.style_crops(styles, config)]


def sample_sources(embeddings: np.ndarray, pool: dict[str, np.ndarray], tolerance: float = 1e-5) -> np.ndarray:
    """Per sample, the row of ``canonical + crops`` its embedding was taken from, or -1."""
    rows = np.concatenate([pool["canonical"], pool["crops"]]).astype(np.float32)
    index = np.full(len(embeddings), -1, np.int32)
    for start in range(0, len(embeddings), 1024):
        chunk = np.asarray(embeddings[start : start + 1024], np.float32)
        distance = np.abs(chunk[:, None, :] - rows[None]).max(axis=2)
        nearest = distance.argmin(axis=1)
        found = distance[np.arange(len(chunk)), nearest] <= tolerance
        index[start : start + len(chunk)] = np.where(found, nearest, -1)
    return index


def style_grams(
    features: Features, layers: Sequence[str], images: Sequence[np.ndarray], size: int = 224
) -> dict[str, np.ndarray]:
    """Gram matrices ``[len(images), c, c]`` per layer, each image as the evaluation sees a style
    (centre square at ``size`` x ``size``)."""
    import tensorflow as tf

    from models.feature_net import gram

    out: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for image in images:
        activations = features(tf.constant(style_input(image, size)[None]))
        for name in layers:
            out[name].append(gram(activations[name]).numpy()[0])
    return {name: np.stack(values) for name, values in out.items()}
