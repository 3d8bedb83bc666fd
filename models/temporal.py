"""Temporal stability learnt from stills: small random camera motions and sensor noise.

A video frame and the next differ mostly by a small motion and fresh sensor noise. Training pairs
each crop ``x`` with ``x' = warp(x) + noise`` and asks the transform ``f`` for
``f(x') ~ warp(f(x))`` (compound regularization, Wang et al., AAAI 2020; Gupta et al. 2017) and,
since the teacher's output warps the same way, ``f(x') ~ warp(teacher(x))``. A quarter of the pairs
have no motion (noise only: a still camera). Pixels that the warp brings in from outside the crop,
and a margin where the network sees its own border, are left out of both terms.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Largest motion between two frames: translation (px), rotation (degrees), scale (fraction).
MAX_SHIFT = 4.0
MAX_ROTATION = 1.5
MAX_SCALE = 0.03
MAX_NOISE = 0.03  # std of the Gaussian sensor noise, in [0, 1] units
STILL_SHARE = 0.25
BORDER = 12


def random_motions(rng: np.random.Generator, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random motions of a ``size`` x ``size`` crop about its centre and their noise std.

    Returns the flat projective transforms ``[count, 8]`` (output pixel -> input pixel, the
    convention of ``tf.raw_ops.ImageProjectiveTransformV3``) and the noise std ``[count]``.
    """
    transforms = np.zeros((count, 8), np.float32)
    for i in range(count):
        still = rng.random() < STILL_SHARE
        shift = np.zeros(2) if still else rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
        angle = 0.0 if still else np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
        scale = 1.0 if still else 1.0 + rng.uniform(-MAX_SCALE, MAX_SCALE)
        cos, sin = scale * np.cos(angle), scale * np.sin(angle)
        centre = (size - 1) / 2
        # input = A (output - centre) + centre + shift
        a = np.array([[cos, -sin], [sin, cos]])
        offset = centre + shift - a @ np.array([centre, centre])
        transforms[i, :6] = [a[0, 0], a[0, 1], offset[0], a[1, 0], a[1, 1], offset[1]]
    return transforms, rng.uniform(0, MAX_NOISE, count).astype(np.float32)


def warp(images: tf.Tensor, transforms: tf.Tensor, fill: str = "REFLECT") -> tf.Tensor:
    """Bilinear warp of ``images [N,H,W,C]`` by flat transforms ``[N,8]`` (differentiable)."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill,
    )


def valid_mask(transforms: tf.Tensor, like: tf.Tensor, border: int = BORDER) -> tf.Tensor:
    """``[N,H,W,1]``: 1 where the warp reads inside the source and away from both borders."""
    shape = tf.shape(like)
    ones = tf.ones([shape[0], shape[1], shape[2], 1], like.dtype)
    inside = tf.cast(warp(ones, transforms, "CONSTANT") > 0.999, like.dtype)
    height, width = shape[1], shape[2]
    rows = tf.cast((tf.range(height) >= border) & (tf.range(height) < height - border), like.dtype)
    cols = tf.cast((tf.range(width) >= border) & (tf.range(width) < width - border), like.dtype)
    return inside * rows[None, :, None, None] * cols[None, None, :, None]


def masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``values`` over the pixels where ``mask`` is 1 (all channels)."""
    weights = mask * tf.ones_like(values)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def perturb(content: tf.Tensor, transforms: tf.Tensor, noise_std: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The "next frame" of each crop: warped, plus Gaussian noise of its std (seeded), clipped."""
    moved = warp(content, transforms)
    noise = tf.random.stateless_normal(tf.shape(moved), seed) * noise_std[:, None, None, None]
    return tf.clip_by_value(moved + noise, 0.0, 1.0)
