"""Training losses of the transform: distillation, temporal stability and texture statistics.

One loss per training step (:func:`transform_step_loss`), on a batch of teacher pairs:

- pixels: L1 plus ``gradient_weight`` x L1 on image differences, to the teacher's output;
- temporal (``temporal_weight`` > 0): each crop also goes in as its "next frame" (a small random
  motion plus sensor noise, :mod:`models.temporal`); that output is held to the warped teacher
  output (pixel terms) and to the warped output of the clean crop (``temporal_weight`` x L1);
- colour (``colour_weight`` > 0): the sliced Wasserstein distance between the output's and the
  teacher output's pixel colours per crop (sorted projections of RGB on fixed directions), so that
  a pale average of unpredictable strokes no longer costs less than the teacher's own colours;
- texture (fine-tune stage, on a float copy of MobileNetV2, :mod:`models.feature_net`):
  ``gram_weight`` x the relative Gram-matrix distance of the output to the teacher's output on the
  same crop, and ``style_weight`` x that distance to the style image behind the sample's
  conditioning (samples conditioned on a mix of two embeddings have none and skip that term).

The feature net sees the images at ``gram_scale`` (the evaluation looks at 384x384 frames at
224x224), anti-aliased, at a random extra scale of ``1 +- gram_jitter`` and a random offset of up to
7 pixels per step, so that a pattern locked to the network's stride grid cannot lower the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from models import temporal
from models.config import Config
from models.feature_net import Features, gram

Batch = Mapping[str, tf.Tensor]
StepLoss = Callable[[keras.Model, Batch], tf.Tensor]


def _gradients(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return image[:, 1:, :, :] - image[:, :-1, :, :], image[:, :, 1:, :] - image[:, :, :-1, :]


def pixel_loss(
    gradient_weight: float,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]:
    """L1 on pixels plus ``gradient_weight`` x L1 on vertical/horizontal differences, over the
    pixels where the optional ``mask [N,H,W,1]`` is 1."""

    def loss(target: tf.Tensor, output: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
        if mask is None:
            mask = tf.ones_like(target[..., :1])
        value = temporal.masked_mean(tf.abs(output - target), mask)
        masks = (mask[:, 1:] * mask[:, :-1], mask[:, :, 1:] * mask[:, :, :-1])
        for a, b, m in zip(_gradients(output), _gradients(target), masks, strict=True):
            value += gradient_weight * temporal.masked_mean(tf.abs(a - b), m)
        return value

    return loss


# Fixed colour directions of the colour term: the RGB axes, the luminance/opponent axes and the
# four diagonals (unit vectors; rows).
_COLOUR_DIRECTIONS = (
    (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0),
    (1.0, 1.0, 1.0), (1.0, -1.0, 0.0), (1.0, 1.0, -2.0),
    (1.0, 1.0, -1.0), (1.0, -1.0, 1.0), (-1.0, 1.0, 1.0), (1.0, -1.0, -1.0),
)


def colour_distance(output: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Per-sample sliced Wasserstein-1 distance between the colour distributions of two image
    batches ``[N,H,W,3]`` (the mean absolute difference of their sorted projections on
    :data:`_COLOUR_DIRECTIONS`). Zero for any rearrangement of the same pixels."""
    directions = tf.math.l2_normalize(tf.constant(_COLOUR_DIRECTIONS, tf.float32), axis=1)

    def sorted_projections(images: tf.Tensor) -> tf.Tensor:
        pixels = tf.reshape(images, [tf.shape(images)[0], -1, 3])
        return tf.sort(tf.einsum("npc,dc->ndp", pixels, directions), axis=-1)

    return tf.reduce_mean(tf.abs(sorted_projections(output) - sorted_projections(target)), axis=[1, 2])


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


def texture_loss(
    config: Config, features: Features
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """``(output, teacher, style, has_style) -> loss``: the weighted Gram distances of ``output`` to
    ``teacher`` (same crops) and to ``style`` (uint8-range images scaled to [0, 1], one per sample,
    seen at 224x224 as the evaluation sees a style), the latter only where ``has_style``. ``style``
    has one image per crop; ``output`` and ``teacher`` may hold several views of each crop, stacked
    (``[views of crop 0..B-1, next views of crop 0..B-1, ...]``)."""
    layers = config.gram_layers
    views = feature_view(config.gram_scale, config.gram_jitter)

    def loss(output: tf.Tensor, teacher: tf.Tensor, style: tf.Tensor, has_style: tf.Tensor) -> tf.Tensor:
        value = tf.constant(0.0)
        view = views()
        ours = features(view(output))
        if config.gram_weight:
            theirs = _target_grams(features(tf.stop_gradient(view(teacher))), layers)
            value += config.gram_weight * tf.reduce_mean(_layer_mean(ours, theirs, layers))
        if config.style_weight:
            # one style per crop; the output batch may hold several views of each crop
            repeat = tf.shape(output)[0] // tf.shape(style)[0]
            style_view = tf.image.resize(style, (224, 224), method="bilinear", antialias=True)
            references = {n: tf.tile(g, [repeat, 1, 1]) for n, g in _target_grams(features(style_view), layers).items()}
            distance = _layer_mean(ours, references, layers)
            known = tf.tile(tf.cast(has_style, tf.float32), [repeat])
            value += config.style_weight * tf.reduce_sum(distance * known) / tf.maximum(tf.reduce_sum(known), 1.0)
        return value

    return loss


def transform_step_loss(config: Config, features: Features | None = None) -> StepLoss:
    """The loss of one step of the transform (``features``: the fine-tune stage's texture terms).

    Batch keys: ``content``, ``target`` (teacher output), ``embedding``; with ``temporal_weight``
    also ``motion`` (flat transforms), ``noise`` (std per sample) and ``seed`` (noise draw); with
    texture terms ``style`` (float, [0, 1]) and ``has_style``.
    """
    pixels = pixel_loss(config.gradient_weight)
    texture = texture_loss(config, features) if features is not None else None

    def loss(model: keras.Model, batch: Batch) -> tf.Tensor:
        content, target, embedding = batch["content"], batch["target"], batch["embedding"]
        if config.temporal_weight:
            motion = batch["motion"]
            moved = temporal.perturb(content, motion, batch["noise"], batch["seed"])
            both = model([tf.concat([content, moved], 0), tf.concat([embedding, embedding], 0)], training=True)
            output, moved_output = tf.split(both, 2)
            moved_target = temporal.warp(target, motion)
            mask = temporal.valid_mask(motion, target)
            value = 0.5 * (pixels(target, output, None) + pixels(moved_target, moved_output, mask))
            drift = tf.abs(moved_output - temporal.warp(output, motion))
            value += config.temporal_weight * temporal.masked_mean(drift, mask)
            outputs, targets = both, tf.concat([target, moved_target], 0)
        else:
            outputs = model([content, embedding], training=True)
            value = pixels(target, outputs, None)
            targets = target
        if config.colour_weight:
            value += config.colour_weight * tf.reduce_mean(colour_distance(outputs, tf.stop_gradient(targets)))
        if texture is not None:
            value += texture(outputs, targets, batch["style"], batch["has_style"])
        return value

    return loss
