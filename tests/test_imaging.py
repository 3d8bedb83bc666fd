"""The pixel plumbing around the models: one resize rule for inference and training."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.inference.imaging import resize


def checkerboard(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.repeat((((x + y) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


def test_resize_when_shrinking_3x_averages_instead_of_aliasing() -> None:
    # a one-pixel checkerboard is mid-grey at any smaller size; point-like sampling would alias
    out = resize(checkerboard(90, 120), 30, 40).astype(int)
    assert np.abs(out - 127.5).max() <= 15


def test_resize_when_size_is_unchanged_returns_the_image() -> None:
    image = checkerboard(8, 8)
    assert resize(image, 8, 8) is image


@pytest.mark.parametrize(("height", "width"), [(45, 60), (30, 40), (60, 61), (180, 240), (44, 59)])
def test_training_code_resizes_exactly_as_inference(height: int, width: int) -> None:
    pytest.importorskip("models.imaging")
    from models.imaging import resize as training_resize

    image = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    assert np.array_equal(training_resize(image, height, width), resize(image, height, width))
