"""Picture metrics that need no network: colour spread and fixed-period grid peaks.

Colour spread of an RGB image: ``sqrt(var(a*) + var(b*))`` over its pixels, in CIE Lab (a*, b*
as OpenCV computes them from float RGB in [0, 1], roughly -127..127): how far the pixels' colours
spread around their mean chromaticity. A uniform khaki image has 0; desaturating by a factor s
(a*, b* times s) multiplies it by s.

Grid peak ratio at period ``p`` (pixels) on an ``H x W`` image (the processing grid): luminance
``Y = 0.299 R + 0.587 G + 0.114 B``, mean removed, times a 2-D Hann window, power spectrum
``|FFT2|^2``. The peak bins are those of a pattern repeating every ``p`` pixels in four
directions: ``(0, W/p)``, ``(H/p, 0)``, ``(H/p, W/p)`` and ``(H/p, -W/p)`` (rows, columns; their
conjugates carry the same power). Each peak's neighbours are the 40 bins at Chebyshev distance 2
to 4 around it (distance 1 holds the Hann window's own leakage of the peak). Power spectra are
averaged over all images given (a grid locked to the pixel grid adds up in phase, picture content
does not); the ratio of a direction is its averaged peak power over the median of its averaged
neighbours, and the image set's grid peak ratio is the largest of the four directions. White
noise gives about 1; a pattern of period ``p`` added to the images gives far more.

Local variance (texture): Gaussian-weighted variance around each pixel (sigma 2 px), mean of
the RGB channels; slow gradients (sky, lit walls) have almost none.
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])
RING_INNER, RING_OUTER = 2, 4
GRID_PERIODS = (8, 4)
TEXTURE_SIGMA = 2.0


def colour_spread(image: np.ndarray) -> float:
    """``sqrt(var(a*) + var(b*))`` of a float RGB image in [0, 1] ``[H, W, 3]``."""
    lab = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    a, b = lab[..., 1].astype(np.float64), lab[..., 2].astype(np.float64)
    return float(np.sqrt(a.var() + b.var()))


def local_variance(image: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Gaussian-weighted local variance ``[H, W]`` of a float RGB image, mean of the channels."""
    x = image.astype(np.float32)
    mean = cv2.GaussianBlur(x, (0, 0), sigma)
    variance = cv2.GaussianBlur(x * x, (0, 0), sigma) - mean * mean
    return np.maximum(variance, 0).mean(axis=-1)


def _ring_offsets() -> np.ndarray:
    span = np.arange(-RING_OUTER, RING_OUTER + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    keep = np.maximum(np.abs(dy), np.abs(dx)) >= RING_INNER
    return np.stack([dy[keep], dx[keep]], axis=1)


_RING = _ring_offsets()


class GridSpectrum:
    """Accumulates the power at the grid peaks of ``periods`` and at their neighbours over images."""

    def __init__(self, periods: tuple[int, ...] = GRID_PERIODS) -> None:
        self.periods = periods
        self.count = 0
        self._shape: tuple[int, int] | None = None
        self._peaks: dict[int, np.ndarray] = {p: np.zeros(4) for p in periods}
        self._rings: dict[int, np.ndarray] = {p: np.zeros((4, len(_RING))) for p in periods}
        self._window: np.ndarray | None = None

    def _bins(self, period: int) -> list[tuple[int, int]]:
        assert self._shape is not None
        height, width = self._shape
        ky, kx = height // period, width // period
        return [(0, kx), (ky, 0), (ky, kx), (ky, -kx)]

    def add(self, image: np.ndarray) -> None:
        """Add one float RGB image ``[H, W, 3]`` (all images of one spectrum share H and W)."""
        height, width = image.shape[:2]
        if self._shape is None:
            bad = [p for p in self.periods if height % p or width % p]
            if bad:
                raise ValueError(f"image size {height}x{width} is not a multiple of the periods {bad}")
            self._shape = (height, width)
            self._window = np.outer(np.hanning(height), np.hanning(width))
        elif self._shape != (height, width):
            raise ValueError(f"image size {height}x{width} differs from {self._shape[0]}x{self._shape[1]}")
        assert self._window is not None
        luma = image.astype(np.float64) @ LUMA
        power = np.abs(np.fft.fft2((luma - luma.mean()) * self._window)) ** 2
        for period in self.periods:
            for i, (ky, kx) in enumerate(self._bins(period)):
                self._peaks[period][i] += power[ky % height, kx % width]
                self._rings[period][i] += power[(ky + _RING[:, 0]) % height, (kx + _RING[:, 1]) % width]
        self.count += 1

    def direction_ratios(self, period: int) -> np.ndarray:
        """Peak over neighbour median of each of the four directions (averaged spectra)."""
        if not self.count:
            raise ValueError("no images added")
        return self._peaks[period] / np.maximum(np.median(self._rings[period], axis=1), 1e-30)

    def peak_ratio(self, period: int) -> float:
        """The grid peak ratio at ``period``: the strongest direction's peak over its neighbours."""
        return float(self.direction_ratios(period).max())


def grid_peak_ratio(images: list[np.ndarray], period: int) -> float:
    """Grid peak ratio at ``period`` of a set of same-size float RGB images."""
    spectrum = GridSpectrum((period,))
    for image in images:
        spectrum.add(image)
    return spectrum.peak_ratio(period)
