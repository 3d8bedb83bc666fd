"""Checks against the teacher and the backbone; they skip when ../shared is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import catalogue, metrics
from models.imaging import load_rgb, style_input
from models.litert import Predictor, Transform, magenta_at_size
from models.paths import shared_model


def test_magenta_when_rewritten_for_480x640_then_output_keeps_the_size(shared_data: Path) -> None:
    transform = Transform(magenta_at_size(shared_model("int8_transfer"), 480, 640))
    output = transform(np.full((1, 480, 640, 3), 0.5, np.float32), np.zeros((1, 1, 1, 100), np.float32))
    assert output.shape == (1, 480, 640, 3)


def test_split_when_listed_then_held_out_styles_never_train(shared_data: Path) -> None:
    training = set(catalogue.training_styles())
    assert len(catalogue.HELD_OUT_STYLES) >= 10
    assert not training & set(catalogue.HELD_OUT_STYLES)
    assert set(catalogue.all_styles()) == training | set(catalogue.HELD_OUT_STYLES)
    assert {s.source for s in catalogue.BUILTIN_STYLES} <= training


def test_styles_json_when_recomputed_with_teacher_then_equal(shared_data: Path, release: Path) -> None:
    from models.teacher import Teacher

    teacher = Teacher()
    styles = json.loads((release / "styles.json").read_text())["styles"]
    for style in catalogue.BUILTIN_STYLES[:4]:
        expected = teacher.embed_image(load_rgb(catalogue.style_dir() / style.source))
        np.testing.assert_allclose(styles[style.key]["embedding"], expected, atol=1e-5)


def test_predictor_when_given_held_out_style_then_close_to_teacher(
    shared_data: Path, release: Path, manifest: dict
) -> None:
    ours = Predictor(release / manifest["models"][manifest["default"]]["predictor"])
    teacher = Predictor(shared_model("int8_prediction"))
    cosines = []
    for name in catalogue.HELD_OUT_STYLES:
        image = style_input(load_rgb(catalogue.style_dir() / name))
        a, b = ours(image).ravel(), teacher(image).ravel()
        cosines.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert np.mean(cosines) > 0.8


def test_metrics_when_image_compared_to_itself_then_perfect(shared_data: Path) -> None:
    backbone = metrics.Backbone()
    image = np.random.default_rng(0).random((96, 96, 3)).astype(np.float32)
    features = backbone.features(image)
    assert metrics.content_distance(features, features) == 0.0
    assert metrics.style_distance(features, metrics.grams(features)) == 0.0
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.psnr(image, image) == float("inf")
