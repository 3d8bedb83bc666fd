"""Train the student transform and predictor by distillation from the teacher.

Usage (from the repository root)::

    python -m models.train --config full     # resumes from models/work/full/ if interrupted
    python -m models.train --config tiny --work /tmp/tiny   # seconds, generated data

Outputs ``transform.weights.h5`` and ``predictor.weights.h5`` in the work directory, and
``finetune.weights.h5`` when the configuration has a fine-tune stage (``finetune_steps``).
Experiments: ``--only finetune --name NAME --set gram_weight=0.2 --set finetune_steps=1000``
writes ``NAME.weights.h5`` (checkpoints in ``ckpt_NAME``) next to the others.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models import data
from models.architecture import build_predictor, build_transform, copy_weights
from models.config import CONFIGS, Config, transform_spec, with_overrides, work_dir
from models.feature_net import Features
from models.losses import finetune_loss, predictor_tune_loss, transform_loss

log = logging.getLogger(__name__)

Batch = tuple[tuple[np.ndarray, ...], np.ndarray | tuple[np.ndarray, ...]]


def prepare_data(config: Config, work: Path) -> None:
    """Build (or finish building) the teacher-target sets of ``config``."""
    sets = (work / "transform_set", work / "predictor_set")
    expected = (config.transform_runs * config.crops_per_run, config.predictor_samples)
    if all(_finished(d, n) for d, n in zip(sets, expected, strict=True)):
        return
    sources = data.synthetic_sources(config.seed) if config.synthetic else data.shared_sources()
    data.build_transform_set(sources, config, sets[0])
    data.build_predictor_set(sources, config, sets[1])


def _finished(directory: Path, expected: int) -> bool:
    return (directory / "progress.json").exists() and data.ArraySet(directory, {}).done >= expected


def _transform_batches(
    config: Config,
    arrays: dict[str, np.ndarray],
    start: int,
    stream: int = 21,
    sources: np.ndarray | None = None,
    noise: float = 0.0,
) -> Iterator[Batch]:
    """Random sub-crops (and flips) of teacher pairs, as float [0, 1]; batch ``i`` depends only on
    (seed, stream, i), so a resumed run sees the same batches as an uninterrupted one. With
    ``sources`` (per-sample style index) the target is ``(teacher crop, style index)``; ``noise``
    adds Gaussian noise of that std to the embeddings of a random half of the batch."""
    count, size, crop = len(arrays["content"]), config.crop, config.train_crop
    for step in itertools.count(start):
        rng = np.random.default_rng([config.seed, stream, step])
        index = np.sort(rng.choice(count, config.transform_batch, replace=False))
        top, left = rng.integers(0, size - crop + 1, size=2)
        window = (index, slice(top, top + crop), slice(left, left + crop))
        content, target = arrays["content"][window], arrays["target"][window]
        if rng.random() < 0.5:
            content, target = content[:, :, ::-1], target[:, :, ::-1]
        embedding = arrays["embedding"][index].reshape(-1, 1, 1, 100)
        if noise:
            noisy = rng.random(len(index)) < 0.5
            embedding = embedding + (noise * rng.standard_normal(embedding.shape) * noisy[:, None, None, None])
            embedding = embedding.astype(np.float32)
        image = target / np.float32(255)
        yield (content / np.float32(255), embedding), image if sources is None else (image, sources[index])


def _predictor_batches(config: Config, arrays: dict[str, np.ndarray], start: int) -> Iterator[Batch]:
    count = len(arrays["image"])
    for step in itertools.count(start):
        rng = np.random.default_rng([config.seed, 22, step])
        index = np.sort(rng.choice(count, config.predictor_batch, replace=False))
        image = arrays["image"][index] / np.float32(255)
        yield (image,), arrays["embedding"][index].reshape(-1, 1, 1, 100)


def predictor_loss(target: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
    """Mean squared error: the teacher's transform is affine in the embedding, so this error is
    what reaches its conditioning (styles differ by direction only modestly: the training
    styles' embeddings have mean pairwise cosine 0.85)."""
    return tf.reduce_mean(tf.square(output - target))


def fit(
    model: keras.Model,
    batches: Callable[[int], Iterator[Batch]],
    loss_fn: Callable[[object, tf.Tensor], tf.Tensor],
    steps: int,
    config: Config,
    checkpoint_dir: Path,
    learning_rate: float | None = None,
) -> None:
    """Adam with cosine decay from ``learning_rate`` (default ``config.learning_rate``);
    checkpoints every ``config.checkpoint_every`` steps and resumes."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate or config.learning_rate, steps, alpha=0.02)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(model.trainable_variables)  # so a restore fills its slots immediately
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_dir), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        log.info("%s: resumed at step %d", model.name, int(step))

    @tf.function(reduce_retracing=True)
    def train_step(inputs: tuple[tf.Tensor, ...], target: object) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(target, model(list(inputs) if len(inputs) > 1 else inputs[0], training=True))
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
        )
        return loss

    started, running = time.monotonic(), math.nan
    first = int(step)
    stream = batches(first)
    for _ in range(first, steps):
        inputs, target = next(stream)
        loss = float(train_step(tuple(tf.constant(x) for x in inputs), tf.nest.map_structure(tf.constant, target)))
        running = loss if math.isnan(running) else 0.98 * running + 0.02 * loss
        step.assign_add(1)
        done = int(step)
        if done % config.checkpoint_every == 0 or done == steps:
            manager.save(checkpoint_number=done)
        if done % 100 == 0 or done == steps:
            rate = (done - first) / (time.monotonic() - started)
            log.info(
                "%s step %d/%d loss %.4f (%.2f steps/s, %.0f min left)",
                model.name,
                done,
                steps,
                running,
                rate,
                (steps - done) / rate / 60,
            )


PARTS = ("predictor", "transform", "finetune", "predictor_tune")


def train(config: Config, work: Path, parts: tuple[str, ...] = PARTS, name: str | None = None) -> None:
    """Prepare the data, then train the requested networks; weights go to ``work``.

    The predictor trains first: it is the shorter run, so an intermediate release (the
    transform's latest checkpoint, see :func:`restore`) is available early. The fine-tune stage
    (only when ``config.finetune_steps``) starts from the finished transform weights and writes
    ``<name or finetune>.weights.h5``; the predictor tune stage (only when
    ``config.predictor_tune_steps``) trains the predictor through that transform and writes
    ``<name or predictor_tune>.weights.h5``.
    """
    keras.utils.set_random_seed(config.seed)
    prepare_data(config, work)
    if "predictor" in parts:
        model = build_predictor(config.predictor)
        arrays = data.open_set(work / "predictor_set")
        fit(
            model,
            functools.partial(_predictor_batches, config, arrays),
            predictor_loss,
            config.predictor_steps,
            config,
            work / "ckpt_predictor",
        )
        model.save_weights(work / "predictor.weights.h5")
    if "transform" in parts:
        model = build_transform(config.transform)
        arrays = data.open_set(work / "transform_set")
        fit(
            model,
            functools.partial(_transform_batches, config, arrays),
            transform_loss(config.gradient_weight),
            config.transform_steps,
            config,
            work / "ckpt_transform",
        )
        model.save_weights(work / "transform.weights.h5")
    if "finetune" in parts and config.finetune_steps > 0:
        finetune(config, work, name or "finetune")
    if "predictor_tune" in parts and config.predictor_tune_steps > 0:
        tune_predictor(config, work, name or "predictor_tune")


def _feature_net(config: Config) -> Features:
    """The texture terms' feature net: the MobileNetV2 copy, or a stand-in for synthetic configs."""
    from models import feature_net

    layers = config.gram_layers
    return feature_net.stand_in(layers) if config.synthetic else feature_net.backbone(layers)


def finetune(config: Config, work: Path, name: str = "finetune") -> None:
    """Continue the finished transform with the texture terms (:func:`models.losses.finetune_loss`);
    resumable."""
    from models import style_targets

    trained = build_transform(config.transform)
    trained.load_weights(work / "transform.weights.h5")
    model = build_transform(transform_spec(config, "finetune"))
    copy_weights(trained, model)
    arrays = data.open_set(work / "transform_set")
    layers = config.gram_layers
    features = _feature_net(config)
    sources = np.full(len(arrays["embedding"]), -1, np.int32)  # no style image: that term is off
    grams = None
    if config.style_weight:
        pool = dict(np.load(work / "transform_set" / "pool.npz"))
        sources = style_targets.sample_sources(arrays["embedding"], pool)
        grams = style_targets.style_grams(features, layers, style_targets.pool_images(config))
        log.info("finetune: %d of %d samples have a style image", int((sources >= 0).sum()), len(sources))
    fit(
        model,
        functools.partial(_transform_batches, config, arrays, stream=23, sources=sources, noise=config.embedding_noise),
        finetune_loss(config, features, grams),
        config.finetune_steps,
        config,
        work / f"ckpt_{name}",
        config.finetune_learning_rate,
    )
    model.save_weights(work / f"{name}.weights.h5")


def _predictor_tune_batches(
    config: Config, styles: dict[str, np.ndarray], contents: dict[str, np.ndarray], start: int
) -> Iterator[Batch]:
    """(style image, content crop) -> (teacher embedding, style image); seeded per batch."""
    size, crop = config.crop, config.train_crop
    for step in itertools.count(start):
        rng = np.random.default_rng([config.seed, 24, step])
        style_index = np.sort(rng.choice(len(styles["image"]), config.transform_batch, replace=False))
        content_index = np.sort(rng.choice(len(contents["content"]), config.transform_batch, replace=False))
        top, left = rng.integers(0, size - crop + 1, size=2)
        content = contents["content"][content_index, top : top + crop, left : left + crop] / np.float32(255)
        style = styles["image"][style_index] / np.float32(255)
        teacher = styles["embedding"][style_index].reshape(-1, 1, 1, 100)
        yield (style, content), (teacher, style)


def tune_predictor(config: Config, work: Path, name: str = "predictor_tune") -> None:
    """Train the predictor through the frozen release transform (:func:`predictor_tune_loss`)."""
    predictor = build_predictor(config.predictor)
    predictor.load_weights(work / "predictor.weights.h5")
    part = release_part(config)
    transform = build_transform(transform_spec(config, part))
    restore(transform, work, part)
    transform.trainable = False
    style = keras.Input((256, 256, 3), name="style_image")
    content = keras.Input((None, None, 3), name="content")
    embedding = predictor(style)
    model = keras.Model([style, content], [embedding, transform([content, embedding])], name="predictor_tune")
    features = _feature_net(config)
    styles, contents = data.open_set(work / "predictor_set"), data.open_set(work / "transform_set")
    fit(
        model,
        functools.partial(_predictor_tune_batches, config, styles, contents),
        predictor_tune_loss(config, features),
        config.predictor_tune_steps,
        config,
        work / f"ckpt_{name}",
        config.predictor_tune_learning_rate,
    )
    predictor.save_weights(work / f"{name}.weights.h5")


def predictor_part(config: Config) -> str:
    """Which trained predictor the release ships: the tuned one when there is that stage."""
    return "predictor_tune" if config.predictor_tune_steps > 0 else "predictor"


def release_part(config: Config) -> str:
    """Which trained transform the release ships: the fine-tuned one when there is that stage."""
    return "finetune" if config.finetune_steps > 0 else "transform"


def restore(model: keras.Model, work: Path, part: str) -> None:
    """Load ``<part>.weights.h5``, or the latest checkpoint of an unfinished run."""
    weights = work / f"{part}.weights.h5"
    if weights.exists():
        model.load_weights(weights)
        return
    latest = tf.train.latest_checkpoint(str(work / f"ckpt_{part}"))
    if latest is None:
        raise FileNotFoundError(f"no trained {part} in {work}")
    log.warning("%s: using unfinished checkpoint %s", part, latest)
    tf.train.Checkpoint(model=model).restore(latest).expect_partial()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--work", type=Path, help="work directory root (default models/work)")
    parser.add_argument("--only", choices=["data", *PARTS], help="run one stage only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--name", help="output name of the fine-tune or predictor tune stage (experiments)")
    args = parser.parse_args(argv)
    try:
        config = with_overrides(CONFIGS[args.config], args.set)
    except ValueError as error:
        parser.error(str(error))
    if args.name and args.only not in ("finetune", "predictor_tune"):
        parser.error("--name needs --only finetune or --only predictor_tune")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    work = work_dir(config, args.work)
    if args.only == "data":
        prepare_data(config, work)
    else:
        train(config, work, (args.only,) if args.only else PARTS, args.name)


if __name__ == "__main__":
    main()
