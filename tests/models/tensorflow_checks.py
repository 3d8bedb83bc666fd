"""Tests of the training code that need TensorFlow, each run in its own interpreter.

Not collected by the main test run (the file name does not match ``test_*.py``): TensorFlow and
aiortc's pylibsrtp crash one interpreter together, so ``tests/models/test_tensorflow.py`` runs
each test here as ``python -m pytest tests/models/tensorflow_checks.py::NAME`` in a child process.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models import catalogue, export, temporal, train
from models.architecture import build_transform, copy_weights, upsample
from models.config import CONFIGS, GRAM_LAYERS, Config, transform_spec
from models.feature_net import backbone, gram, stand_in
from models.litert import Predictor, Transform
from models.losses import colour_distance, pixel_loss, texture_loss, transform_step_loss

# TensorFlow/Keras internals raise NumPy 2 deprecation warnings (``__array__`` without ``copy``)
# that the suite's warnings-as-errors setting would turn into failures.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning"),  # int8 export, float I/O
]


def _random_weights(model: tf.keras.Model, seed: int = 0, std: float = 0.3) -> None:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, std, w.shape).astype(np.float32) for w in model.get_weights()])


# --- training end to end (tiny configuration: generated images, stand-in teacher) ---


@pytest.mark.timeout(1200)  # minutes on a busy 2-core machine
def test_tiny_run_when_trained_then_writes_weights_and_exports(tmp_path: Path) -> None:
    # given / when: train and export the tiny configuration (temporal and texture terms on)
    train.main(["--config", "tiny", "--work", str(tmp_path)])
    work = tmp_path / "tiny"
    export.export_models(CONFIGS["tiny"], work, work / "export")
    # then
    for part in ("transform", "predictor", "finetune"):
        assert (work / f"{part}.weights.h5").exists(), part
    transform = Transform(work / "export" / "transform_int8.tflite")
    output = transform(
        np.random.default_rng(0).random((2, 40, 24, 3), np.float32), np.zeros((2, 1, 1, 100), np.float32)
    )
    assert output.shape == (2, 40, 24, 3)
    embedding = Predictor(work / "export" / "predictor_fp16.tflite")(np.zeros((256, 256, 3), np.float32))
    assert embedding.shape == (1, 1, 1, 100)


@pytest.mark.timeout(1200)
def test_tiny_run_when_restarted_then_resumes_from_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    arguments = ["--config", "tiny", "--work", str(tmp_path), "--only", "transform"]
    with caplog.at_level(logging.INFO):
        train.main(arguments)
    assert "resumed at step" not in caplog.text
    caplog.clear()
    (tmp_path / "tiny" / "transform.weights.h5").unlink()
    with caplog.at_level(logging.INFO):
        train.main(arguments)
    assert "resumed at step" in caplog.text


# --- decoder ---


def test_upsample_when_initialised_then_bilinear_interpolation() -> None:
    # given: a random low-resolution image
    image = np.random.default_rng(0).random((1, 12, 16, 3)).astype(np.float32)
    inputs = tf.keras.Input((None, None, 3))
    model = tf.keras.Model(inputs, upsample(inputs, "up"))
    # when
    ours = model(image).numpy()
    reference = tf.image.resize(image, (24, 32), method="bilinear").numpy()
    # then: equal away from the border (the filter pads with zeros, resize clamps)
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], reference[:, 1:-1, 1:-1], atol=1e-5)


def test_transform_when_input_flat_then_output_flat_whatever_the_weights() -> None:
    # A pixel-shuffle decoder draws its sub-pixel filters' differences as a fixed-period weave on
    # flat areas; nearest upsampling + filtering cannot: a flat input gives a flat interior.
    model = build_transform(CONFIGS["tiny"].transform)
    _random_weights(model)
    content = np.full((1, 192, 224, 3), 0.4, np.float32)
    output = model([content, np.random.default_rng(1).normal(size=(1, 1, 1, 100)).astype(np.float32)]).numpy()
    interior = output[0, 64:-64, 64:-64]
    assert interior.std(axis=(0, 1)).max() < 1e-4
    assert output.std() > 1e-4  # the borders do vary: the test sees the network's output


def _trained_and_finetune_networks(
    config: Config,
) -> tuple[tf.keras.Model, tf.keras.Model, np.random.Generator, list[np.ndarray]]:
    """A "trained" (random) transform of ``config``, its fine-tune network with the weights copied
    in, a random stream and an input batch."""
    base = build_transform(config.transform)
    _random_weights(base, std=0.1)
    finetuned = build_transform(transform_spec(config, "finetune"))
    copy_weights(base, finetuned)
    rng = np.random.default_rng(0)
    batch = [rng.random((2, 40, 56, 3), np.float32), rng.normal(size=(2, 1, 1, 100)).astype(np.float32)]
    return base, finetuned, rng, batch


def test_decoder_blocks_when_trained_weights_copied_in_then_same_function_until_trained() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], finetune_decoder_blocks=(1, 2))
    base, extended, rng, x = _trained_and_finetune_networks(config)
    # equal up to float rounding (the extended graph may schedule its convolutions differently)
    assert float(np.abs(np.asarray(base(x)) - np.asarray(extended(x))).max()) < 1e-5
    branch = extended.get_layer("dres1_1b_pw")
    branch.set_weights([w + rng.normal(0, 1, w.shape).astype(np.float32) for w in branch.get_weights()])
    assert float(np.abs(np.asarray(base(x)) - np.asarray(extended(x))).max()) > 1e-4  # the new branch is live
    assert len(extended.layers) > len(base.layers)


def test_shuffle_head_when_started_from_a_trained_upsample_head_then_nearest_2x_of_a_close_function() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], finetune_output="shuffle")
    base, shuffle, rng, x = _trained_and_finetune_networks(config)
    before, after = np.asarray(base(x)), np.asarray(shuffle(x))
    # every 2x2 cell is flat (the four sub-pixels start equal: no 2-px pattern before training)...
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        assert float(np.abs(after[:, dy::2, dx::2] - after[:, ::2, ::2]).max()) < 1e-6
    # ...and the picture is the trained head's (its filter now reads the 1/2-resolution stage)
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.9
    # the extra channels are live once trained: their projection rows start at zero, not absent
    head = shuffle.get_layer("out_sub_pw")
    kernel, bias = head.get_weights()
    kernel[:, :, config.transform.full_width:] = rng.normal(0, 1, kernel[:, :, config.transform.full_width:].shape)
    head.set_weights([kernel, bias])
    assert float(np.abs(np.asarray(shuffle(x)) - after).max()) > 1e-3


def test_train_command_when_style_kind_unknown_then_one_line_error_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--config", "tiny", "--work", str(tmp_path), "--set", "train_kinds=painting,paintings"])
    assert exit_info.value.code == 2
    assert "unknown kind paintings" in capsys.readouterr().err
    assert not (tmp_path / "tiny").exists()  # nothing built


def test_transform_when_output_unknown_then_says_which_are_known() -> None:
    spec = dataclasses.replace(CONFIGS["tiny"].transform, output="pixelshuffle")
    with pytest.raises(ValueError, match="expected upsample or shuffle"):
        build_transform(spec)


# --- temporal terms ---


def test_warp_when_motion_is_a_whole_pixel_shift_then_moves_the_image() -> None:
    image = np.random.default_rng(0).random((1, 32, 40, 3)).astype(np.float32)
    shift = np.array([[1, 0, 3, 0, 1, -2, 0, 0]], np.float32)  # output (x, y) reads input (x + 3, y - 2)
    moved = temporal.warp(tf.constant(image), tf.constant(shift)).numpy()
    np.testing.assert_allclose(moved[0, 2:, :-3], image[0, :-2, 3:], atol=1e-6)
    mask = temporal.valid_mask(tf.constant(shift), tf.constant(image), border=4).numpy()[0, ..., 0]
    assert mask[:4].sum() == 0 and mask[:, -4:].sum() == 0 and mask[10, 10] == 1


def test_random_motions_when_drawn_then_small_and_some_still() -> None:
    transforms, noise = temporal.random_motions(np.random.default_rng(0), 400, 192)
    centre = np.array([95.5, 95.5, 1.0])
    moved = np.stack([transforms[:, 0:3] @ centre, transforms[:, 3:6] @ centre], axis=1) - centre[:2]
    assert np.abs(moved).max() <= temporal.MAX_SHIFT + 1e-3
    still = (np.abs(transforms[:, [0, 4]] - 1).max(axis=1) < 1e-7) & (np.abs(moved).max(axis=1) < 1e-7)
    assert 0.15 < still.mean() < 0.35
    assert (noise >= 0).all() and noise.max() <= temporal.MAX_NOISE


def _batch(crops: int, size: int = 48, seed: int = 0, still: bool = False) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(seed)
    motion, noise = temporal.random_motions(rng, crops, size)
    if still:
        motion[:] = [1, 0, 0, 0, 1, 0, 0, 0]
    content = rng.random((crops, size, size, 3)).astype(np.float32)
    batch = {
        "content": content,
        "target": content,
        "embedding": rng.normal(size=(crops, 1, 1, 100)).astype(np.float32),
        "motion": motion,
        "noise": np.zeros_like(noise),
        "seed": np.array([1, 2], np.int32),
        "style": rng.random((crops, 64, 64, 3)).astype(np.float32),
        "has_style": np.ones(crops, np.int32),
    }
    return {key: tf.constant(value) for key, value in batch.items()}


def test_temporal_term_when_model_is_pointwise_then_zero_and_when_position_dependent_then_positive() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], temporal_weight=1.0, gradient_weight=0.0)
    inputs = [tf.keras.Input((None, None, 3)), tf.keras.Input((1, 1, 100))]
    identity = tf.keras.Model(inputs, tf.keras.layers.Identity()(inputs[0]))
    ramp = tf.constant(np.linspace(0, 0.5, 48, dtype=np.float32)[None, None, :, None])
    fixed_pattern = tf.keras.Model(inputs, tf.keras.layers.Lambda(lambda t: t + ramp)(inputs[0]))

    def temporal_term(model: tf.keras.Model, batch: dict[str, tf.Tensor]) -> float:
        once, twice = (transform_step_loss(dataclasses.replace(config, temporal_weight=w)) for w in (1.0, 2.0))
        return float(twice(model, batch)) - float(once(model, batch))

    moving, still = _batch(4), _batch(4, still=True)
    # the identity reproduces its target and moves with the image: every term vanishes
    assert float(transform_step_loss(config)(identity, moving)) < 1e-5
    # a pattern fixed to the frame does not move with the image ...
    assert temporal_term(fixed_pattern, moving) > 0.01
    # ... which a still camera without noise cannot see
    assert abs(temporal_term(fixed_pattern, still)) < 1e-5


def test_pixel_loss_when_masked_then_ignores_masked_pixels() -> None:
    target = tf.zeros((1, 8, 8, 3))
    output = tf.concat([tf.zeros((1, 8, 4, 3)), tf.ones((1, 8, 4, 3))], axis=2)
    mask = tf.concat([tf.ones((1, 8, 4, 1)), tf.zeros((1, 8, 4, 1))], axis=2)
    assert float(pixel_loss(1.0)(target, output, mask)) == 0.0
    assert float(pixel_loss(1.0)(target, output, None)) > 0.5


def test_colour_distance_when_pixels_rearranged_then_zero_and_when_paler_then_positive() -> None:
    rng = np.random.default_rng(0)
    vivid = rng.random((2, 16, 16, 3)).astype(np.float32)
    shuffled = vivid.reshape(2, -1, 3)[:, rng.permutation(16 * 16)].reshape(vivid.shape)
    grey = vivid.mean(axis=-1, keepdims=True)
    pale = (grey + 0.4 * (vivid - grey)).astype(np.float32)
    assert np.allclose(colour_distance(tf.constant(shuffled), tf.constant(vivid)).numpy(), 0.0, atol=1e-6)
    # the pale image is closer pixel by pixel, but further in colour distribution
    assert np.abs(pale - vivid).mean() < np.abs(shuffled - vivid).mean()
    assert (colour_distance(tf.constant(pale), tf.constant(vivid)).numpy() > 0.05).all()


def test_step_loss_when_colour_weight_set_then_adds_the_colour_term() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], temporal_weight=0.0)
    model = build_transform(config.transform)
    rng = np.random.default_rng(1)
    batch = {
        "content": tf.constant(rng.random((2, 48, 48, 3), np.float32)),
        "target": tf.constant(rng.random((2, 48, 48, 3), np.float32)),
        "embedding": tf.constant(rng.normal(0, 1, (2, 1, 1, 100)).astype(np.float32)),
    }
    plain = float(transform_step_loss(config)(model, batch))
    coloured = float(transform_step_loss(dataclasses.replace(config, colour_weight=2.0))(model, batch))
    output = model([batch["content"], batch["embedding"]])
    expected = 2.0 * float(tf.reduce_mean(colour_distance(output, batch["target"])))
    assert expected > 0.01
    assert coloured - plain == pytest.approx(expected, rel=1e-3)


# --- texture terms ---


def test_texture_loss_when_output_has_the_style_statistics_then_style_term_vanishes() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], gram_weight=0.0, style_weight=1.0, gram_jitter=0.0, gram_scale=1.0)
    loss = texture_loss(config, stand_in(config.gram_layers))
    rng = np.random.default_rng(0)
    tint = np.array([[1, 0.2, 0.5], [0.1, 0.9, 0.3]], np.float32)[:, None, None]
    styles = tf.constant(rng.random((2, 224, 224, 3), np.float32) * tint)
    # outputs equal to the styles as the loss sees a style (224x224)
    outputs = styles
    known, unknown = tf.constant([1, 1]), tf.constant([0, 0])
    own = float(loss(outputs, outputs, styles, known))
    swapped = float(loss(outputs, outputs, styles[::-1], known))
    assert own < 1e-4 and swapped > 0.05
    assert float(loss(outputs, outputs, styles[::-1], unknown)) == 0.0
    # two views of each crop (temporal pairs) share one style image
    assert float(loss(tf.concat([outputs, outputs], 0), tf.concat([outputs, outputs], 0), styles, known)) == (
        pytest.approx(own, rel=1e-4)
    )


def test_texture_term_when_images_equal_then_zero_and_when_different_then_positive() -> None:
    config = dataclasses.replace(CONFIGS["tiny"], gram_weight=1.0, style_weight=0.0, gram_jitter=0.1, gram_scale=0.5)
    loss = texture_loss(config, stand_in(config.gram_layers))
    rng = np.random.default_rng(0)
    a = tf.constant(rng.random((2, 48, 48, 3), np.float32))
    b = tf.constant(np.clip(a.numpy() + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32))
    none, styles = tf.constant([0, 0]), tf.zeros((2, 8, 8, 3))
    with tf.GradientTape() as tape:
        tape.watch(b)
        value = loss(b, a, styles, none)
    gradient = tape.gradient(value, b)
    assert abs(float(loss(a, a, styles, none))) < 1e-4
    assert float(value) > 0.01 and float(tf.reduce_max(tf.abs(gradient))) > 0


# --- the float MobileNetV2 copy (needs the shared data) ---


def test_feature_net_when_compared_to_tflite_tensors_then_close(shared_data: Path) -> None:
    # Measured: correlation 0.998-1.000 on every layer up to expanded_conv_9, relative Gram
    # difference 0.1-4 % (the uint8 model rounds every activation; the copy does not).
    import warnings

    from models.imaging import center_square, load_rgb, resize, to_float
    from models.litert import load
    from models.metrics import CONTENT_LAYERS, STYLE_LAYERS
    from models.paths import shared_model

    layers = tuple(dict.fromkeys(GRAM_LAYERS + STYLE_LAYERS + CONTENT_LAYERS[:1]))
    net = backbone(layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = load(shared_model("backbone"), preserve=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    scale, zero = detail["quantization"]
    index = {}
    for tensor in interpreter.get_tensor_details():
        name = tensor["name"].split(";")[0]
        if name in layers and name not in index:
            index[name] = (tensor["index"], *tensor["quantization"])
    assert len(index) == len(layers) >= 8
    for path in catalogue.content_images("val")[:3]:
        image = resize(to_float(center_square(load_rgb(path))), 224, 224)
        quantized = np.clip(np.rint((image * 2 - 1) / scale + zero), 0, 255).astype(np.uint8)
        interpreter.set_tensor(detail["index"], quantized[None])
        interpreter.invoke()
        ours = net(((quantized.astype(np.float32) - zero) * scale + 1)[None] / 2)
        for name in layers:
            i, s, z = index[name]
            reference = (interpreter.get_tensor(i).astype(np.float32) - z) * s
            a = ours[name].numpy().reshape(-1, reference.shape[-1])
            b = reference.reshape(-1, reference.shape[-1])
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99, name
            ga, gb = gram(tf.constant(a[None, None])).numpy()[0], b.T @ b / len(b)
            assert np.linalg.norm(ga - gb) / np.linalg.norm(gb) < 0.1, name
