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

from models import data, temporal
from models.architecture import build_predictor, build_transform, copy_weights
from models.config import CONFIGS, Config, transform_spec, with_overrides, work_dir
from models.feature_net import Features
from models.losses import transform_step_loss

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]


SETS = {"transform_set": "transform", "predictor_set": "predictor"}


def set_size(config: Config, name: str) -> int:
    """Samples in the teacher-target set ``name`` (``transform_set`` or ``predictor_set``)."""
    return config.transform_runs * config.crops_per_run if name == "transform_set" else config.predictor_samples


def prepare_data(config: Config, work: Path, names: tuple[str, ...] = tuple(SETS)) -> None:
    """Build (or finish building) the teacher-target sets ``names`` of ``config``."""
    missing = [n for n in names if not _finished(work / n, set_size(config, n))]
    if not missing:
        return
    sources = data.synthetic_sources(config.seed) if config.synthetic else data.shared_sources()
    for name in missing:
        build = data.build_transform_set if name == "transform_set" else data.build_predictor_set
        build(sources, config, work / name)


def open_set(config: Config, work: Path, name: str) -> dict[str, np.ndarray]:
    """The finished set ``name`` of ``config`` (its configured size, even if more was written)."""
    return data.open_set(work / name, set_size(config, name))


def _finished(directory: Path, expected: int) -> bool:
    return (directory / "progress.json").exists() and data.ArraySet(directory, {}).done >= expected


def _transform_batches(config: Config, arrays: dict[str, np.ndarray], start: int, stream: int = 21) -> Iterator[Batch]:
    """Random sub-crops (and flips) of teacher pairs as float [0, 1] (``content``, ``target``,
    ``embedding``), plus the style images (``style``, ``has_style``) and, with a temporal term,
    each crop's random motion and noise (:func:`models.temporal.random_motions`). Batch ``i``
    depends only on (seed, stream, i), so a resumed run sees the same batches as an
    uninterrupted one. With a temporal term each crop goes in twice, so a batch has
    ``transform_batch // 2`` crops and the same cost."""
    size, crop = config.crop, config.train_crop
    samples = data.kept_samples(config, len(arrays["content"]))
    crops = config.transform_batch // 2 if config.temporal_weight else config.transform_batch
    for step in itertools.count(start):
        rng = np.random.default_rng([config.seed, stream, step])
        index = np.sort(rng.choice(samples, crops, replace=False))
        top, left = rng.integers(0, size - crop + 1, size=2)
        window = (index, slice(top, top + crop), slice(left, left + crop))
        content, target = arrays["content"][window], arrays["target"][window]
        if rng.random() < 0.5:
            content, target = content[:, :, ::-1], target[:, :, ::-1]
        batch = {
            "content": content / np.float32(255),
            "target": target / np.float32(255),
            "embedding": arrays["embedding"][index].reshape(-1, 1, 1, 100),
            "style": arrays["style"][index] / np.float32(255),
            "has_style": arrays["has_style"][index].astype(np.int32),
        }
        if config.temporal_weight:
            batch["motion"], batch["noise"] = temporal.random_motions(rng, crops, crop)
            batch["seed"] = rng.integers(0, 2**31, 2).astype(np.int32)
        yield batch


def _predictor_batches(config: Config, arrays: dict[str, np.ndarray], start: int) -> Iterator[Batch]:
    count = len(arrays["image"])
    for step in itertools.count(start):
        rng = np.random.default_rng([config.seed, 22, step])
        index = np.sort(rng.choice(count, config.predictor_batch, replace=False))
        embedding = arrays["embedding"][index].reshape(-1, 1, 1, 100)
        yield {"image": arrays["image"][index] / np.float32(255), "embedding": embedding}


def predictor_loss(model: keras.Model, batch: dict[str, tf.Tensor]) -> tf.Tensor:
    """Mean squared error to the teacher embedding: the teacher's transform is affine in the
    embedding, so this error is what reaches its conditioning (styles differ by direction only
    modestly: the training styles' embeddings have mean pairwise cosine 0.85)."""
    return tf.reduce_mean(tf.square(model(batch["image"], training=True) - batch["embedding"]))


def fit(
    model: keras.Model,
    batches: Callable[[int], Iterator[Batch]],
    loss_fn: Callable[[keras.Model, dict[str, tf.Tensor]], tf.Tensor],
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
    def train_step(batch: dict[str, tf.Tensor]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(model, batch)
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
        )
        return loss

    started, running = time.monotonic(), math.nan
    first = int(step)
    stream = batches(first)
    for _ in range(first, steps):
        loss = float(train_step({key: tf.constant(value) for key, value in next(stream).items()}))
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


PARTS = ("transform", "finetune", "predictor")


def train(config: Config, work: Path, parts: tuple[str, ...] = PARTS, name: str | None = None) -> None:
    """Prepare the data each part needs, then train the requested networks; weights go to ``work``.

    The transform (distillation), then its fine-tune stage (only when ``config.finetune_steps``;
    from the finished transform weights, writes ``<name or finetune>.weights.h5``), then the
    predictor: its teacher targets can be built by a second process meanwhile
    (``--only data``), the build resumes or skips them.
    """
    keras.utils.set_random_seed(config.seed)
    if "transform" in parts:
        _fit_part(config, work, "transform", build_transform(config.transform), _transform_batches,
                  transform_step_loss(config), config.transform_steps)
    if "finetune" in parts and config.finetune_steps > 0:
        prepare_data(config, work, ("transform_set",))
        finetune(config, work, name or "finetune")
    if "predictor" in parts:
        _fit_part(config, work, "predictor", build_predictor(config.predictor), _predictor_batches,
                  predictor_loss, config.predictor_steps)


def _fit_part(
    config: Config, work: Path, part: str, model: keras.Model, batches: Callable[..., Iterator[Batch]],
    loss: Callable[[keras.Model, dict[str, tf.Tensor]], tf.Tensor], steps: int,
) -> None:
    """Train ``model`` on the ``<part>_set`` (prepared first) and save ``<part>.weights.h5``."""
    set_name = f"{part}_set"
    prepare_data(config, work, (set_name,))
    fit(model, functools.partial(batches, config, open_set(config, work, set_name)), loss, steps, config,
        work / f"ckpt_{part}")
    model.save_weights(work / f"{part}.weights.h5")


def _feature_net(config: Config) -> Features:
    """The texture terms' feature net: the MobileNetV2 copy, or a stand-in for synthetic configs."""
    from models import feature_net

    layers = config.gram_layers
    return feature_net.stand_in(layers) if config.synthetic else feature_net.backbone(layers)


def finetune(config: Config, work: Path, name: str = "finetune") -> None:
    """Continue the finished transform with the texture terms (:func:`models.losses.texture_loss`);
    resumable."""
    trained = build_transform(config.transform)
    trained.load_weights(work / "transform.weights.h5")
    model = build_transform(transform_spec(config, "finetune"))
    copy_weights(trained, model)
    arrays = open_set(config, work, "transform_set")
    log.info("finetune: %d of %d samples have a style image", int(arrays["has_style"].sum()), len(arrays["has_style"]))
    fit(
        model,
        functools.partial(_transform_batches, config, arrays, stream=23),
        transform_step_loss(config, _feature_net(config)),
        config.finetune_steps,
        config,
        work / f"ckpt_{name}",
        config.finetune_learning_rate,
    )
    model.save_weights(work / f"{name}.weights.h5")


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
    parser.add_argument(
        "--only", choices=["data", *SETS, *PARTS], help="run one stage only (data: both sets, or one set by name)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--name", help="output name of the fine-tune stage (experiments)")
    args = parser.parse_args(argv)
    try:
        config = with_overrides(CONFIGS[args.config], args.set)
        data.check_train_kinds(config)
    except ValueError as error:
        parser.error(str(error))
    if args.name and args.only != "finetune":
        parser.error("--name needs --only finetune")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    work = work_dir(config, args.work)
    if args.only == "data":
        prepare_data(config, work)
    elif args.only in SETS:
        prepare_data(config, work, (args.only,))
    else:
        train(config, work, (args.only,) if args.only else PARTS, args.name)


if __name__ == "__main__":
    main()
