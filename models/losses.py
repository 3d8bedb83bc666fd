"""Training losses of the transform: per-pixel distillation and texture (Gram) statistics.

The transform stage uses :func:`transform_loss` alone. The fine-tune stage adds, on a float copy
of MobileNetV2 (:mod:`models.feature_net`), the relative Gram-matrix distance of the output to

- the teacher's output on the same crop (``gram_weight``), and
- the style image behind the sample's conditioning (``style_weight``), for samples conditioned on a
  training style or a crop of one (:mod:`models.style_targets`); mixes and photos-as-style have no
  style image and get only the other terms.

The feature net sees the images at ``gram_scale`` (the evaluation looks at 384x384 frames at
224x224), anti-aliased, at a random extra scale of ``1 +- gram_jitter`` and a random offset of up to
7 pixels per step, so that a pattern locked to the network's stride grid cannot lower the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from models.config import Config
from models.feature_net import Features, gram

Loss = Callable[[Any, tf.Tensor], tf.Tensor]


def _gradients(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return image[:, 1:, :, :] - image[:, :-1, :, :], image[:, :, 1:, :] - image[:, :, :-1, :]


def transform_loss(gradient_weight: float) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """L1 on pixels plus ``gradient_weight`` x L1 on horizontal/vertical differences."""

    def loss(target: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
        value = tf.reduce_mean(tf.abs(output - target))
        for a, b in zip(_gradients(output), _gradients(target), strict=True):
            value += gradient_weight * tf.reduce_mean(tf.abs(a - b))
        return value

    return loss


def feature_view(scale: float, jitter: float = 0.0) -> Callable[[], Callable[[tf.Tensor], tf.Tensor]]:
    """Resize a batch by ``scale`` (anti-aliased); with ``jitter`` > 0 the scale varies by up to
    that fraction and the result is shifted by up to 7 px. Returns a function applying one draw
    of these to several batches alike (call it once per step)."""

    def draw() -> Callable[[tf.Tensor], tf.Tensor]:
        factor = scale * (1.0 + tf.random.uniform([], -jitter, jitter)) if jitter else tf.constant(scale)
        offset = tf.random.uniform([2], 0, 8, dtype=tf.int32) if jitter else tf.zeros([2], tf.int32)

        def apply(images: tf.Tensor) -> tf.Tensor:
            size = tf.cast(tf.round(tf.cast(tf.shape(images)[1:3], tf.float32) * factor), tf.int32)
            resized = tf.image.resize(images, size, method="bilinear", antialias=True)
            return resized[:, offset[0] :, offset[1] :, :]

        return apply

    return draw


def relative_gram_distance(features: tf.Tensor, reference: tf.Tensor) -> tf.Tensor:
    """``|G(features) - reference|_F / |reference|_F`` per sample (``reference``: Gram matrices)."""
    return tf.norm(gram(features) - reference, axis=[1, 2]) / (tf.norm(reference, axis=[1, 2]) + 1e-6)


def _layer_mean(ours: dict[str, tf.Tensor], references: dict[str, tf.Tensor], layers: tuple[str, ...]) -> tf.Tensor:
    """Per-sample mean over ``layers`` of :func:`relative_gram_distance`."""
    return tf.reduce_mean(tf.stack([relative_gram_distance(ours[n], references[n]) for n in layers]), axis=0)


def _target_grams(features: dict[str, tf.Tensor], layers: tuple[str, ...]) -> dict[str, tf.Tensor]:
    return {n: tf.stop_gradient(gram(features[n])) for n in layers}


def finetune_loss(config: Config, features: Features, style_grams: dict[str, np.ndarray] | None = None) -> Loss:
    """The fine-tune stage's loss on targets ``(teacher image, style index)``: pixel terms,
    ``gram_weight`` x Gram distance to the teacher output and ``style_weight`` x Gram distance to
    ``style_grams[layer][index]`` (samples with index -1 skip that term)."""
    pixels = transform_loss(config.gradient_weight)
    layers = config.gram_layers
    views = feature_view(config.gram_scale, config.gram_jitter)
    tables = {}
    if config.style_weight:
        if style_grams is None:
            raise ValueError("style_weight needs the style images' Gram matrices")
        tables = {n: tf.constant(style_grams[n], tf.float32) for n in layers}

    def loss(target: tuple[tf.Tensor, tf.Tensor], output: tf.Tensor) -> tf.Tensor:
        image, index = target
        value = pixels(image, output)
        if not (config.gram_weight or config.style_weight):
            return value
        view = views()
        ours = features(view(output))
        if config.gram_weight:
            theirs = _target_grams(features(tf.stop_gradient(view(image))), layers)
            value += config.gram_weight * tf.reduce_mean(_layer_mean(ours, theirs, layers))
        if config.style_weight:
            known = tf.cast(index >= 0, tf.float32)
            rows = tf.maximum(index, 0)
            style = _layer_mean(ours, {n: tf.gather(tables[n], rows) for n in layers}, layers)
            value += config.style_weight * tf.reduce_sum(style * known) / tf.maximum(tf.reduce_sum(known), 1.0)
        return value

    return loss


def predictor_tune_loss(config: Config, features: Features) -> Loss:
    """Loss of the predictor tune stage on targets ``(teacher embedding, style image)`` and outputs
    ``(embedding, stylized crop)``: MSE to the teacher's embedding plus ``predictor_style_weight`` x
    the Gram distance of the stylized crop (feature view as in the fine-tune) to the style image
    (224x224, as the evaluation sees a style)."""
    layers = config.gram_layers
    views = feature_view(config.gram_scale, config.gram_jitter)

    def loss(target: tuple[tf.Tensor, tf.Tensor], outputs: list[tf.Tensor]) -> tf.Tensor:
        teacher, style = target
        embedding, stylized = outputs
        value = tf.reduce_mean(tf.square(embedding - teacher))
        theirs = _target_grams(features(tf.image.resize(style, (224, 224), antialias=True)), layers)
        ours = features(views()(stylized))
        return value + config.predictor_style_weight * tf.reduce_mean(_layer_mean(ours, theirs, layers))

    return loss
