"""Temporal metrics of a stylized sequence: warping error and flicker amplification.

Warping error (Lai et al., ECCV 2018), with the motion taken from the CONTENT frames: for each
pair of consecutive frames ``t-1, t``, DIS optical flow (OpenCV, ``MEDIUM`` preset, on the
luminance) from ``t`` to ``t-1`` (``w``) and from ``t-1`` to ``t`` (``w'``). A pixel ``x`` of
frame ``t`` is valid when ``x + w(x)`` lies inside the frame, the two flows agree
(Sundaram et al. 2010): ``|w(x) + w'(x + w(x))|^2 <= 0.01 (|w|^2 + |w'|^2) + 0.5``, and ``x``
is not on a motion boundary (Ruder et al. 2016): ``|grad w_x|^2 + |grad w_y|^2 <= 0.01 |w|^2 +
0.002`` (DIS smears the flow across an object's edge, so the strip it uncovers often passes the
first test); the others are occluded, disoccluded or of unreliable motion. The previous
stylized frame is sampled at ``x + w(x)`` (bilinear) and compared with the current one: the
pair's error is the mean over valid pixels and RGB channels of the squared difference (images
in [0, 1]); a sequence's warping error is the mean over its pairs.

Warping error per unit of texture: the same sum divided by the output's own texture, the mean
over the same valid pixels of its local variance (Gaussian window, sigma 2 px, mean of the RGB
channels), summed over the same pairs. A blurred output has less texture, so it cannot score
well by being blurred; texture redrawn at random each frame scores about 2 (the squared
difference of two independent draws is twice their variance), texture that moves with the
content about 0.

Flicker amplification: for frames of a still scene with independent noise, the mean absolute
frame-to-frame change of the output divided by that of the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.picture_metrics import local_variance

FB_ALPHA, FB_BETA = 0.01, 0.5
BOUNDARY_ALPHA, BOUNDARY_BETA = 0.01, 0.002


def _grey(image: np.ndarray) -> np.ndarray:
    """uint8 luminance of a float RGB image in [0, 1]."""
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dis_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Flow ``[H, W, 2]`` (x, y) with ``source(p) ~ target(p + flow(p))``; float RGB frames."""
    preset = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM  # type: ignore[attr-defined]
    dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]
    return dis.calc(_grey(source), _grey(target), None)


def _grid(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return xs, ys


def sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``p + flow(p)`` for every pixel ``p`` (bilinear, edges replicated)."""
    xs, ys = _grid(flow.shape)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def valid_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels of frame ``t`` visible in ``t-1``: inside the frame, forward-backward consistent and
    off motion boundaries.

    ``backward`` is the flow from ``t`` to ``t-1``, ``forward`` from ``t-1`` to ``t``.
    """
    height, width = backward.shape[:2]
    xs, ys = _grid(backward.shape)
    tx, ty = xs + backward[..., 0], ys + backward[..., 1]
    inside = (tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1)
    back = sample(forward, backward)
    mismatch = np.sum((backward + back) ** 2, axis=-1)
    bound = FB_ALPHA * (np.sum(backward**2, axis=-1) + np.sum(back**2, axis=-1)) + FB_BETA
    gradient = sum(np.gradient(backward[..., c], axis=a) ** 2 for c in (0, 1) for a in (0, 1))
    smooth = gradient <= BOUNDARY_ALPHA * np.sum(backward**2, axis=-1) + BOUNDARY_BETA
    return inside & (mismatch <= bound) & smooth


@dataclass(frozen=True)
class FramePair:
    """Motion from frame ``t`` back to ``t-1`` of the content, and where it is trustworthy."""

    flow: np.ndarray
    valid: np.ndarray


def content_pairs(frames: Sequence[np.ndarray]) -> list[FramePair]:
    """One :class:`FramePair` per consecutive pair of float RGB content frames (``t`` = 1..n-1)."""
    pairs = []
    for previous, current in zip(frames[:-1], frames[1:], strict=True):
        backward, forward = dis_flow(current, previous), dis_flow(previous, current)
        pairs.append(FramePair(backward, valid_mask(backward, forward)))
    return pairs


@dataclass(frozen=True)
class WarpingError:
    """Warping error of one stylized sequence (sums over its frame pairs)."""

    error: float  #: mean over pairs of the masked mean squared difference
    texture: float  #: mean over pairs of the masked mean local variance of the output
    valid_fraction: float  #: mean fraction of pixels not occluded

    @property
    def per_texture(self) -> float:
        """Warping error per unit of texture."""
        return self.error / self.texture if self.texture > 0 else float("inf")


def warping_error(outputs: Sequence[np.ndarray], pairs: Sequence[FramePair]) -> WarpingError:
    """Warping error of stylized frames ``outputs`` (float RGB) given the content's motion."""
    if len(outputs) != len(pairs) + 1:
        raise ValueError(f"{len(outputs)} frames need {len(outputs) - 1} pairs, got {len(pairs)}")
    errors, textures, fractions = [], [], []
    for previous, current, pair in zip(outputs[:-1], outputs[1:], pairs, strict=True):
        mask = pair.valid
        if not mask.any():
            continue
        warped = sample(previous.astype(np.float32), pair.flow)
        squared = ((current.astype(np.float32) - warped) ** 2).mean(axis=-1)
        errors.append(float(squared[mask].mean()))
        textures.append(float(local_variance(current)[mask].mean()))
        fractions.append(float(mask.mean()))
    if not errors:
        raise ValueError("no visible pixels in any frame pair")
    return WarpingError(float(np.mean(errors)), float(np.mean(textures)), float(np.mean(fractions)))


def mean_change(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute frame-to-frame difference of a sequence (pixels and channels)."""
    pairs = zip(frames[:-1], frames[1:], strict=True)
    return float(np.mean([np.abs(b.astype(np.float32) - a).mean() for a, b in pairs]))


def noisy_stills(image: np.ndarray, count: int, sigma: float = 3 / 255, seed: int = 0) -> list[np.ndarray]:
    """``count`` copies of a float RGB image with independent Gaussian noise (clipped to [0, 1])."""
    rng = np.random.default_rng(seed)
    return [np.clip(image + rng.normal(0, sigma, image.shape), 0, 1).astype(np.float32) for _ in range(count)]


def flicker_amplification(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """Frame-to-frame change of the output over that of the input (a still scene with noise)."""
    return mean_change(outputs) / mean_change(inputs)
