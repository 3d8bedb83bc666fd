"""Colour spread and grid peak ratio (models/picture_metrics.py) and their per-style summary in
models/evaluate.py, on inputs whose answer is known by construction. No TensorFlow here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models import evaluate
from models.picture_metrics import GridSpectrum, colour_spread, grid_peak_ratio


def _noise(count: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((size, size, 3)) for _ in range(count)]


def _square_wave(size: int, period: int, axis: int) -> np.ndarray:
    """+-1 stripes repeating every ``period`` pixels along ``axis`` (odd harmonics only)."""
    coordinate = np.mgrid[0:size, 0:size][axis] + 0.5
    return np.sign(np.sin(2 * np.pi * coordinate / period))[..., None]


def _desaturated(image: np.ndarray, factor: float) -> np.ndarray:
    lab = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2LAB)
    lab[..., 1:] *= factor
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def test_grid_peak_ratio_when_white_noise_then_about_one() -> None:
    images = _noise(16)
    for period in (8, 4):
        assert 0.7 < grid_peak_ratio(images, period) < 1.6


def test_grid_peak_ratio_when_8px_stripes_added_then_large_at_8_only() -> None:
    images = [0.9 * image + 0.05 * _square_wave(64, 8, axis=1) for image in _noise(16)]
    assert grid_peak_ratio(images, 8) > 30
    # a square wave has no even harmonics: nothing at period 4
    assert grid_peak_ratio(images, 4) < 1.6


def test_grid_peak_ratio_when_4px_checkerboard_then_large_at_4() -> None:
    checker = _square_wave(64, 4, axis=0) * _square_wave(64, 4, axis=1)
    images = [0.9 * image + 0.05 * checker for image in _noise(16, seed=1)]
    assert grid_peak_ratio(images, 4) > 30
    assert grid_peak_ratio(images, 8) < 1.6


def test_grid_peak_ratio_when_weak_pattern_then_between_noise_and_strong() -> None:
    noise = _noise(16, seed=2)
    weak = grid_peak_ratio([n + 0.005 * _square_wave(64, 8, axis=0) for n in noise], 8)
    strong = grid_peak_ratio([n + 0.05 * _square_wave(64, 8, axis=0) for n in noise], 8)
    assert 1.6 < weak < strong


def test_grid_spectrum_when_size_not_multiple_of_period_then_value_error() -> None:
    with pytest.raises(ValueError, match="multiple"):
        GridSpectrum((8,)).add(np.zeros((60, 64, 3)))


def test_grid_spectrum_when_sizes_differ_then_value_error() -> None:
    spectrum = GridSpectrum((8,))
    spectrum.add(np.zeros((64, 64, 3)))
    with pytest.raises(ValueError, match="differs"):
        spectrum.add(np.zeros((32, 64, 3)))


def test_colour_spread_when_desaturated_by_half_then_half() -> None:
    image = _noise(1, 32)[0]
    assert colour_spread(_desaturated(image, 0.5)) / colour_spread(image) == pytest.approx(0.5, abs=0.02)


def test_colour_spread_when_grey_then_zero() -> None:
    grey = np.repeat(_noise(1, 32)[0][..., :1], 3, axis=2)
    assert colour_spread(grey) < 0.05
    assert colour_spread(_noise(1, 32)[0]) > 20


def _row(style: float, content: float, spread: float, grid8: float, grid4: float) -> evaluate.QualityRow:
    return {"style": style, "content": content, "ssim": 1.0, "psnr": 99.0, "colour_spread": spread,
            "grid8": grid8, "grid4": grid4}


def test_summarize_when_two_styles_then_mean_and_worst_per_style() -> None:
    by_style = {
        "magenta_fp16": {"a": _row(0.5, 1.0, 20, 2, 10), "b": _row(0.4, 2.0, 10, 1, 20)},
        "ours": {"a": _row(0.55, 1.2, 10, 20, 10), "b": _row(0.52, 2.0, 9, 3, 10)},
    }
    ours = evaluate.summarize(by_style)["ours"]
    assert ours["style_rel_mean"] == pytest.approx((0.1 + 0.3) / 2)
    assert ours["style_rel_worst"] == pytest.approx(0.3)
    assert ours["content_rel_worst"] == pytest.approx(0.2)
    assert ours["colour_ratio_mean"] == pytest.approx((0.5 + 0.9) / 2)
    assert ours["colour_ratio_worst"] == pytest.approx(0.5)
    assert ours["grid8_ratio_worst"] == pytest.approx(10)
    assert ours["grid4_ratio_mean"] == pytest.approx((1 + 0.5) / 2)
    assert ours["style"] == pytest.approx(0.535)
    table = "\n".join(evaluate.quality_md("t", evaluate.summarize(by_style)))
    assert "| ours | 0.5350 | +18.9% | +20.0% / +30.0% |" in table
    assert "0.70 / 0.50" in table


def test_quality_by_style_when_magenta_desaturated_or_gridded_then_metrics_show_it(shared_data: Path) -> None:
    """End to end on real data: Magenta's own output with half the colour, or with an 8-px weave."""
    magenta = evaluate.magenta_stylizer("fp16")
    weave = 0.03 * _square_wave(evaluate.EVAL_SIZE, 8, axis=0) * _square_wave(evaluate.EVAL_SIZE, 8, axis=1)
    candidates = [
        evaluate.Candidate("magenta_fp16", magenta),
        evaluate.Candidate("pale", lambda c, e: _desaturated(magenta(c, e), 0.5)),
        evaluate.Candidate("woven", lambda c, e: np.clip(magenta(c, e) + weave, 0, 1).astype(np.float32)),
    ]
    predictor = evaluate.Predictor(evaluate.RELEASE_DIR / "predictor.tflite")
    contents = evaluate.catalogue.content_images("val")[:2]
    rows = evaluate.quality(candidates, predictor, contents, ["tfexample_style8.jpg"])
    assert rows["pale"]["colour_ratio_worst"] == pytest.approx(0.5, abs=0.05)
    assert rows["woven"]["colour_ratio_worst"] == pytest.approx(1.0, abs=0.1)
    assert rows["woven"]["grid8_ratio_worst"] > 5
    assert rows["pale"]["grid8_ratio_worst"] == pytest.approx(1.0, abs=0.2)
    assert rows["magenta_fp16"]["style_rel_worst"] == 0
