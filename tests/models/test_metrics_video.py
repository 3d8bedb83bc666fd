"""Warping error, occlusion mask and flicker amplification (models/video_metrics.py) on synthetic
sequences whose answer is known by construction. No TensorFlow here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models import video_metrics
from models.video_metrics import content_pairs, flicker_amplification, mean_change, noisy_stills, warping_error

SHIFT = 2  # px per frame


def _texture(height: int, width: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    """Smooth random colour texture in [0, 1] (enough structure for optical flow)."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), sigma)
    return (image - image.min()) / (image.max() - image.min())


def _panning(frames: int = 6, height: int = 96, width: int = 128) -> list[np.ndarray]:
    """A camera panning right over a texture: the content moves SHIFT px left per frame."""
    scene = _texture(height + 40, width + 20 + SHIFT * frames, seed=0)
    return [scene[20 : 20 + height, 20 + SHIFT * t : 20 + SHIFT * t + width] for t in range(frames)]


def _with_frame_noise(frames: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 1).astype(np.float32) for f in frames]


@pytest.fixture(scope="module")
def panning() -> tuple[list[np.ndarray], list[video_metrics.FramePair]]:
    frames = _panning()
    return frames, content_pairs(frames)


def test_content_pairs_when_camera_pans_then_flow_is_the_shift(panning) -> None:
    _, pairs = panning
    for pair in pairs:
        assert np.median(pair.flow[..., 0]) == pytest.approx(SHIFT, abs=0.05)
        assert np.median(pair.flow[..., 1]) == pytest.approx(0, abs=0.05)


def test_valid_mask_when_camera_pans_then_disoccluded_border_flagged(panning) -> None:
    _, pairs = panning
    for pair in pairs:
        # the last SHIFT columns of frame t were outside frame t-1
        assert not pair.valid[:, -SHIFT:].any()
        assert pair.valid[:, 8:-8].mean() > 0.95


def test_valid_mask_when_object_moves_then_uncovered_strip_flagged() -> None:
    background, patch = _texture(128, 160, seed=2, sigma=1.5), _texture(48, 48, seed=3, sigma=1.5)

    def frame(left: int) -> np.ndarray:
        image = background.copy()
        image[40:88, left : left + 48] = patch
        return image

    step = 6
    pair = content_pairs([frame(40), frame(40 + step)])[0]
    uncovered = pair.valid[44:84, 40 : 40 + step]  # background the patch covered at t-1
    assert uncovered.mean() < 0.3
    assert pair.valid[:30].mean() > 0.95  # static background
    assert pair.valid[44:84, 50 + step : 80].mean() > 0.95  # inside the moving patch


def test_warping_error_when_stylizer_shift_equivariant_then_about_zero(panning) -> None:
    frames, pairs = panning
    stylized = [np.sqrt(f) * np.array([1.0, 0.6, 0.3], np.float32) for f in frames]  # per-pixel: equivariant
    score = warping_error(stylized, pairs)
    assert score.per_texture < 0.01
    assert score.valid_fraction > 0.9


def test_warping_error_when_stylizer_adds_frame_noise_then_high(panning) -> None:
    frames, pairs = panning
    sigma = 0.05
    score = warping_error(_with_frame_noise(frames, sigma), pairs)
    assert score.error == pytest.approx(2 * sigma**2, rel=0.2)  # two independent draws
    assert score.per_texture > 0.3
    assert score.per_texture > 30 * warping_error(frames, pairs).per_texture


def test_warping_error_when_output_has_less_contrast_then_per_texture_unchanged(panning) -> None:
    """A washed-out (or blurred-looking) output cannot win on texture-normalised error."""
    frames, pairs = panning
    noisy = _with_frame_noise(frames, 0.05)
    faint = [0.35 + 0.3 * f for f in noisy]
    full, washed = warping_error(noisy, pairs), warping_error(faint, pairs)
    assert washed.error == pytest.approx(0.09 * full.error, rel=0.01)
    assert washed.per_texture == pytest.approx(full.per_texture, rel=0.01)


def test_warping_error_when_frame_count_mismatch_then_value_error(panning) -> None:
    frames, pairs = panning
    with pytest.raises(ValueError, match="pairs"):
        warping_error(frames[:-1], pairs)


def test_noisy_stills_when_sigma_given_then_change_is_that_of_the_noise() -> None:
    stills = noisy_stills(np.full((64, 64, 3), 0.5, np.float32), 6, sigma=3 / 255)
    # |n1 - n2| for two N(0, s) draws has mean 2 s / sqrt(pi)
    assert mean_change(stills) == pytest.approx(2 * (3 / 255) / np.sqrt(np.pi), rel=0.05)


def test_flicker_amplification_when_stylizer_scales_changes_then_that_factor() -> None:
    inputs = noisy_stills(_texture(64, 64, seed=4), 6)
    assert flicker_amplification(inputs, inputs) == pytest.approx(1.0)
    doubled = [0.5 + 2 * (f - 0.5) for f in inputs]  # unclipped contrast x2: changes x2
    assert flicker_amplification(doubled, inputs) == pytest.approx(2.0, rel=1e-4)
    constant = [np.full_like(f, 0.3) for f in inputs]
    assert flicker_amplification(constant, inputs) == 0
    own_noise = _with_frame_noise([np.full_like(f, 0.5) for f in inputs], 0.05)
    # noise of its own, sigma 0.05 against the input's 3/255
    assert flicker_amplification(own_noise, inputs) == pytest.approx(0.05 / (3 / 255), rel=0.05)
