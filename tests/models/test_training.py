"""The training code end to end on the tiny configuration (generated images, stand-in teacher)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import data
from models.config import CONFIGS, with_overrides

REPO = Path(__file__).resolve().parents[2]

# TensorFlow runs in a child process: loaded next to aiortc's pylibsrtp in one process it
# crashes the interpreter (conflicting bundled native libraries), and the suite shares a process.
needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                      reason="training needs the 'train' extra (tensorflow)")


def run_python(code: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root; fail with its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def python_result(code: str) -> list[str]:
    """Run ``code`` like :func:`run_python`; the words it printed after ``RESULT``."""
    return run_python(code).stdout.split("RESULT", 1)[1].split()


@needs_tensorflow
def test_tiny_run_when_trained_then_writes_weights_and_exports(tmp_path: Path) -> None:
    from models.litert import Predictor, Transform

    # given / when: train and export the tiny configuration
    run_python(
        "from pathlib import Path\n"
        "from models import export, train\n"
        "from models.config import CONFIGS\n"
        f"work = Path({str(tmp_path)!r})\n"
        "train.main(['--config', 'tiny', '--work', str(work)])\n"
        "export.export_models(CONFIGS['tiny'], work / 'tiny', work / 'tiny' / 'export')\n"
    )
    work = tmp_path / "tiny"
    # then: the tiny configuration also runs the fine-tune stage (Gram term on a stand-in net)
    assert (work / "transform.weights.h5").exists() and (work / "predictor.weights.h5").exists()
    assert (work / "finetune.weights.h5").exists() and (work / "predictor_tune.weights.h5").exists()
    transform = Transform(work / "export" / "transform_int8.tflite")
    output = transform(
        np.random.default_rng(0).random((2, 40, 24, 3), np.float32), np.zeros((2, 1, 1, 100), np.float32)
    )
    assert output.shape == (2, 40, 24, 3)
    embedding = Predictor(work / "export" / "predictor_fp16.tflite")(np.zeros((256, 256, 3), np.float32))
    assert embedding.shape == (1, 1, 1, 100)


@needs_tensorflow
def test_tiny_run_when_restarted_then_resumes_from_checkpoint(tmp_path: Path) -> None:
    train = ("import logging, sys\n"
             "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')\n"
             "from models import train\n"
             f"train.main(['--config', 'tiny', '--work', {str(tmp_path)!r}, '--only', 'transform'])\n")
    first = run_python(train)
    assert "resumed at step" not in first.stdout + first.stderr
    second = run_python(train)
    assert "resumed at step" in second.stdout + second.stderr


def test_data_sets_when_built_twice_then_identical(tmp_path: Path) -> None:
    config = CONFIGS["tiny"]
    for name in ("a", "b"):
        sources = data.synthetic_sources(config.seed)
        data.build_transform_set(sources, config, tmp_path / name)
    first, second = data.open_set(tmp_path / "a"), data.open_set(tmp_path / "b")
    assert len(first["content"]) == config.transform_runs * config.crops_per_run
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_canvas_when_photo_is_portrait_then_landscape_window_of_requested_size() -> None:
    photo = np.zeros((500, 300, 3), np.uint8)
    window = data._canvas(photo, 256, np.random.default_rng(0))
    assert window.shape == (256, 344, 3)


def test_config_overrides_set_fields_and_refuse_bad_assignments() -> None:
    base = CONFIGS["tiny"]
    changed = with_overrides(base, ["gram_weight=0.3", "finetune_steps=7", "gram_layers=a,b",
                                    "finetune_decoder_blocks=1,2"])
    assert (changed.gram_weight, changed.finetune_steps, changed.gram_layers) == (0.3, 7, ("a", "b"))
    assert changed.finetune_decoder_blocks == (1, 2)
    assert changed.transform_steps == base.transform_steps
    for bad in ("gram_weight", "no_such_field=1", "finetune_steps=1.5", "synthetic=0", "transform=x",
                "finetune_decoder_blocks=1,x"):
        with pytest.raises(ValueError, match="--set"):
            with_overrides(base, [bad])


def test_style_sources_when_pool_built_then_crops_replay_and_samples_map_to_their_images(tmp_path: Path) -> None:
    from models import style_targets
    from models.imaging import style_input

    # given: the tiny transform set and its style pool (generated images, stand-in teacher)
    config = CONFIGS["tiny"]
    sources = data.synthetic_sources(config.seed)
    data.build_transform_set(sources, config, tmp_path)
    pool = dict(np.load(tmp_path / "pool.npz"))
    # when
    images = style_targets.pool_images(config)
    # then: each pool row is the embedding of the image replayed for it
    rows = np.concatenate([pool["canonical"], pool["crops"]])
    assert len(images) == len(rows)
    for image, row in zip(images, rows, strict=True):
        np.testing.assert_allclose(sources.teacher.embed(style_input(image)), row, atol=1e-6)
    # and: samples conditioned on a pool row find it; mixes and photos-as-style get -1
    index = style_targets.sample_sources(data.open_set(tmp_path)["embedding"], pool)
    mix = 0.5 * rows[0] + 0.5 * rows[-1]
    probe = np.stack([rows[3], rows[-1], mix, pool["content"][0]])
    assert style_targets.sample_sources(probe, pool).tolist() == [3, len(rows) - 1, -1, -1]
    assert ((index >= -1) & (index < len(rows))).all() and (index >= 0).any()


@needs_tensorflow
def test_finetune_loss_when_output_has_the_style_statistics_then_style_term_vanishes() -> None:
    values = python_result(
        "import dataclasses, numpy as np, tensorflow as tf\n"
        "from models.config import CONFIGS\n"
        "from models.feature_net import gram, stand_in\n"
        "from models.losses import finetune_loss\n"
        "config = dataclasses.replace(CONFIGS['tiny'], gram_weight=0.0, style_weight=1.0, gram_jitter=0.0,\n"
        "                             gram_scale=1.0, gradient_weight=0.0)\n"
        "net = stand_in(config.gram_layers)\n"
        "rng = np.random.default_rng(0)\n"
        "images = tf.constant(rng.random((2, 48, 48, 3), np.float32) * np.array([1, 0.2, 0.5], np.float32))\n"
        "images = tf.concat([images[:1], 1 - images[1:]], 0)\n"
        "features = net(images)\n"
        "grams = {n: gram(features[n]).numpy() for n in config.gram_layers}\n"
        "loss = finetune_loss(config, net, grams)\n"
        "values = [float(loss((images, tf.constant(i, tf.int32)), images)) for i in ([0, 1], [1, 0], [-1, -1])]\n"
        "print('RESULT', *values)\n"
    )
    own, swapped, unknown = map(float, values)
    assert own < 1e-3
    assert swapped > 0.05
    assert unknown == 0.0


@needs_tensorflow
def test_decoder_blocks_when_trained_weights_copied_in_then_same_function_until_trained() -> None:
    same, moved, extra = python_result(
        "import dataclasses, numpy as np\n"
        "from models.architecture import build_transform, copy_weights\n"
        "from models.config import CONFIGS, transform_spec\n"
        "config = dataclasses.replace(CONFIGS['tiny'], finetune_decoder_blocks=(1, 2))\n"
        "base = build_transform(config.transform)\n"
        "rng = np.random.default_rng(0)\n"
        "base.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in base.get_weights()])\n"
        "extended = build_transform(transform_spec(config, 'finetune'))\n"
        "copy_weights(base, extended)\n"
        "x = [rng.random((2, 40, 56, 3), np.float32), rng.normal(size=(2, 1, 1, 100)).astype(np.float32)]\n"
        "same = float(np.abs(np.asarray(base(x)) - np.asarray(extended(x))).max())\n"
        "branch = extended.get_layer('dres1_1b_pw')\n"
        "branch.set_weights([w + 0.5 for w in branch.get_weights()])\n"
        "moved = float(np.abs(np.asarray(base(x)) - np.asarray(extended(x))).max())\n"
        "print('RESULT', same, moved, len(extended.layers) - len(base.layers))\n"
    )
    assert float(same) == 0.0 and float(moved) > 0.01
    assert int(extra) > 0


@needs_tensorflow
def test_predictor_tune_loss_when_stylized_matches_style_and_embedding_matches_then_zero() -> None:
    own, swapped, off = map(float, python_result(
        "import dataclasses, numpy as np, tensorflow as tf\n"
        "from models.config import CONFIGS\n"
        "from models.feature_net import stand_in\n"
        "from models.losses import predictor_tune_loss\n"
        "config = dataclasses.replace(CONFIGS['tiny'], predictor_style_weight=1.0, gram_jitter=0.0, gram_scale=1.0)\n"
        "loss = predictor_tune_loss(config, stand_in(config.gram_layers))\n"
        "rng = np.random.default_rng(0)\n"
        "tint = np.array([[1, 0.2, 0.5], [0.1, 0.9, 0.3]], np.float32)[:, None, None]\n"
        "style = tf.constant(rng.random((2, 224, 224, 3), np.float32) * tint)\n"
        "teacher = tf.constant(rng.normal(size=(2, 1, 1, 100)).astype(np.float32))\n"
        "values = [float(loss((teacher, style), [teacher, style])),\n"
        "          float(loss((teacher, style), [teacher, style[::-1]])),\n"
        "          float(loss((teacher, style), [teacher + 0.5, style]))]\n"
        "print('RESULT', *values)\n"
    ))
    assert own < 1e-3
    assert swapped > 0.05
    assert abs(off - 0.25) < 1e-3  # MSE of a 0.5 offset, style term still zero
