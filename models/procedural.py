"""Procedural style images: strokes, noise, stripes, cells, dots, shapes and tiles, from a seed.

Each image is a pure function of its seed and size (:func:`style_image`), so any number of them can
be regenerated on demand and nothing is stored. They add what a few dozen paintings cannot: many
palettes, stroke directions and lengths, pattern scales and edge types, for the teacher to label
(Magenta's transform renders whatever its predictor makes of them).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Rng = np.random.Generator


def palette(rng: Rng, count: int | None = None) -> np.ndarray:
    """``count`` (3-7) colours float RGB in [0, 1] from a random hue scheme, sorted by luminance."""
    count = count or int(rng.integers(3, 8))
    base = rng.random()
    scheme = rng.integers(4)
    if scheme == 0:  # analogous
        hues = base + rng.uniform(-0.08, 0.08, count)
    elif scheme == 1:  # complementary
        hues = base + 0.5 * rng.integers(0, 2, count) + rng.uniform(-0.04, 0.04, count)
    elif scheme == 2:  # triad
        hues = base + rng.integers(0, 3, count) / 3 + rng.uniform(-0.04, 0.04, count)
    else:  # anything
        hues = rng.random(count)
    saturation = np.clip(rng.uniform(0.1, 1.0) + rng.uniform(-0.25, 0.25, count), 0, 1)
    value = np.clip(rng.uniform(0.05, 1.0, count), 0, 1)
    hsv = np.stack([(hues % 1.0) * 180, saturation * 255, value * 255], axis=-1).astype(np.uint8)
    rgb = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32) / 255
    return rgb[np.argsort(rgb @ np.array([0.3, 0.59, 0.11], np.float32))]


def gradient_map(field: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map a [0, 1] field through the palette as a piecewise-linear colour ramp."""
    stops = np.linspace(0, 1, len(colours))
    flat = np.clip(field, 0, 1).ravel()
    channels = [np.interp(flat, stops, colours[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).reshape(*field.shape, 3).astype(np.float32)


def noise(rng: Rng, size: int, scale: float, octaves: int = 4, persistence: float = 0.5) -> np.ndarray:
    """Fractal value noise in [0, 1]: ``octaves`` random grids (coarsest ``scale`` px cells) upsampled."""
    total = np.zeros((size, size), np.float32)
    amplitude, weight, cell = 1.0, 0.0, scale
    for _ in range(octaves):
        cells = max(2, int(size / max(cell, 1.0)) + 2)
        grid = rng.random((cells, cells)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude *= persistence
        cell /= 2
    total /= weight
    low, high = np.percentile(total, (1, 99))
    return np.clip((total - low) / max(high - low, 1e-6), 0, 1)


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _noise_art(rng: Rng, size: int) -> np.ndarray:
    field = noise(rng, size, rng.uniform(8, size / 2), int(rng.integers(1, 6)), rng.uniform(0.35, 0.7))
    if rng.random() < 0.4:  # posterized
        field = np.floor(field * rng.integers(3, 8)) / 6
    return gradient_map(field, palette(rng))


def _stripes(rng: Rng, size: int) -> np.ndarray:
    yy, xx = _coords(size)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, size / 3)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
    phase += rng.uniform(0, 3) * noise(rng, size, rng.uniform(16, size))  # marble / wood warp
    wave = rng.integers(3)
    if wave == 0:
        field = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    elif wave == 1:  # hard stripes
        field = (phase % 1.0 < rng.uniform(0.2, 0.8)).astype(np.float32)
    else:  # zigzag / chevrons
        other = (xx * np.sin(angle) - yy * np.cos(angle)) / period
        field = np.abs(((phase + np.abs((other % 2.0) - 1.0)) % 1.0) * 2 - 1)
    return gradient_map(field, palette(rng))


def _cells(rng: Rng, size: int) -> np.ndarray:
    count = int(rng.integers(8, 400))
    seeds = np.full((size, size), 255, np.uint8)
    points = rng.integers(0, size, (count, 2))
    seeds[points[:, 1], points[:, 0]] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    colours = palette(rng)
    cell_colour = colours[rng.integers(len(colours), size=labels.max() + 1)]
    image = cell_colour[labels]
    if rng.random() < 0.5:  # shading inside cells
        image *= (0.75 + 0.25 * noise(rng, size, rng.uniform(8, 64)))[..., None]
    if rng.random() < 0.7:  # lead lines (stained glass, mosaic)
        edges = (np.diff(labels, axis=0, prepend=labels[:1]) != 0) | (
            np.diff(labels, axis=1, prepend=labels[:, :1]) != 0
        )
        width = int(rng.integers(1, 5))
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((width, width), np.uint8)) > 0
        image[edges] = colours[0] * rng.uniform(0, 1)
    return image


def _strokes(rng: Rng, size: int) -> np.ndarray:
    colours = palette(rng)
    image = gradient_map(noise(rng, size, rng.uniform(32, size)), colours[rng.permutation(len(colours))])
    angle = noise(rng, size, rng.uniform(24, size)) * rng.uniform(1, 4) * np.pi + rng.uniform(0, np.pi)
    width = rng.uniform(1, 12)
    length = rng.uniform(4, 40)
    count = int(min(1500, rng.uniform(0.5, 2.5) * size * size / (width * length + 1)))
    segments = int(rng.integers(2, 7))
    # all strokes advance together along the flow field
    paths = np.empty((count, segments + 1, 2), np.float32)
    paths[:, 0] = rng.random((count, 2)) * size
    for step in range(segments):
        x, y = paths[:, step, 0], paths[:, step, 1]
        a = angle[y.astype(np.int32) % size, x.astype(np.int32) % size]
        paths[:, step + 1, 0] = x + length / 4 * np.cos(a)
        paths[:, step + 1, 1] = y + length / 4 * np.sin(a)
    jitter = rng.uniform(0.0, 0.15)
    stroke_colours = np.clip(
        colours[rng.integers(len(colours), size=count)] * (1 + jitter * rng.standard_normal((count, 3))), 0, 1
    )
    thickness = np.maximum(1, (width * rng.uniform(0.6, 1.4, count)).astype(int))
    points = paths.astype(np.int32)
    for path, colour, line in zip(points, stroke_colours.tolist(), thickness.tolist(), strict=True):
        cv2.polylines(image, [path], False, colour, line, cv2.LINE_AA)
    return image


def _dots(rng: Rng, size: int) -> np.ndarray:
    colours = palette(rng)
    image = np.empty((size, size, 3), np.float32)
    image[:] = colours[rng.integers(len(colours))]
    kind = rng.integers(3)
    if kind == 0:  # halftone: grid of dots sized by a noise field
        step = int(rng.integers(4, 24))
        field = noise(rng, size, rng.uniform(32, size))
        colour = colours[rng.integers(len(colours))].tolist()
        for y in range(step // 2, size, step):
            for x in range(step // 2, size, step):
                cv2.circle(image, (x, y), int(field[y, x] * step * 0.6), colour, -1, cv2.LINE_AA)
    elif kind == 1:  # scattered discs
        for _ in range(int(rng.integers(20, 600))):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.circle(
                image,
                centre,
                int(rng.uniform(2, size / 10)),
                colours[rng.integers(len(colours))].tolist(),
                -1,
                cv2.LINE_AA,
            )
    else:  # concentric rings
        for _ in range(int(rng.integers(3, 30))):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            outer = int(rng.uniform(8, size / 3))
            for radius in range(outer, 0, -max(2, outer // int(rng.integers(2, 8)))):
                cv2.circle(image, centre, radius, colours[rng.integers(len(colours))].tolist(), -1, cv2.LINE_AA)
    return image


def _shapes(rng: Rng, size: int) -> np.ndarray:
    colours = palette(rng)
    image = np.empty((size, size, 3), np.float32)
    image[:] = colours[rng.integers(len(colours))]
    outline = rng.random() < 0.5
    for _ in range(int(rng.integers(5, 80))):
        corners = int(rng.integers(3, 6))
        centre = rng.random(2) * size
        radius = rng.uniform(size / 30, size / 3)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        polygon = (centre + radius * np.stack([np.cos(angles), np.sin(angles)], -1)).astype(np.int32)
        colour = colours[rng.integers(len(colours))].tolist()
        cv2.fillPoly(image, [polygon], colour, cv2.LINE_AA)
        if outline:
            cv2.polylines(image, [polygon], True, colours[0].tolist(), int(rng.integers(1, 4)), cv2.LINE_AA)
    return image


def _tiles(rng: Rng, size: int) -> np.ndarray:
    colours = palette(rng, int(rng.integers(2, 5)))
    step = int(rng.integers(8, 64))
    image = np.empty((size, size, 3), np.float32)
    image[:] = colours[0]
    thickness = max(1, int(step * rng.uniform(0.08, 0.3)))
    kind = rng.integers(3)
    for y in range(0, size, step):
        for x in range(0, size, step):
            colour = colours[1 + rng.integers(len(colours) - 1)].tolist()
            if kind == 0:  # checker / random squares
                if (x // step + y // step) % 2 or rng.random() < 0.2:
                    cv2.rectangle(image, (x, y), (x + step - 1, y + step - 1), colour, -1)
            elif kind == 1:  # truchet arcs
                flip = rng.random() < 0.5
                corners = [(x, y), (x + step, y + step)] if flip else [(x + step, y), (x, y + step)]
                for cx, cy in corners:
                    cv2.circle(image, (cx, cy), step // 2, colour, thickness, cv2.LINE_AA)
            else:  # diagonal slashes (maze)
                start, end = ((x, y), (x + step, y + step)) if rng.random() < 0.5 else ((x + step, y), (x, y + step))
                cv2.line(image, start, end, colour, thickness, cv2.LINE_AA)
    return image


GENERATORS: dict[str, Callable[[Rng, int], np.ndarray]] = {
    "noise": _noise_art,
    "stripes": _stripes,
    "cells": _cells,
    "strokes": _strokes,
    "dots": _dots,
    "shapes": _shapes,
    "tiles": _tiles,
}


def _finish(image: np.ndarray, rng: Rng) -> np.ndarray:
    """Random finishing: blur, paper grain, dark outlines of the colour edges, a second layer."""
    size = image.shape[0]
    if rng.random() < 0.25:
        sigma = rng.uniform(0.5, 3)
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if rng.random() < 0.25:
        edges = cv2.Canny((image * 255).astype(np.uint8), 40, 120) > 0
        image[edges] *= rng.uniform(0, 0.5)
    if rng.random() < 0.3:
        grain = noise(rng, size, rng.uniform(1, 4), 2) - 0.5
        image += rng.uniform(0.02, 0.15) * grain[..., None]
    return np.clip(image, 0, 1)


def style_image(seed: int, size: int = 320) -> np.ndarray:
    """The procedural style of ``seed`` as uint8 RGB ``[size, size, 3]`` (deterministic)."""
    rng = np.random.default_rng([seed, 4242])
    names = sorted(GENERATORS)
    image = GENERATORS[names[rng.integers(len(names))]](rng, size)
    if rng.random() < 0.2:  # overlay a second pattern through a soft mask
        second = GENERATORS[names[rng.integers(len(names))]](rng, size)
        mask = noise(rng, size, rng.uniform(16, size / 2))[..., None]
        mask = np.clip((mask - 0.5) * rng.uniform(2, 12) + 0.5, 0, 1)
        image = image * mask + second * (1 - mask)
    image = _finish(image.astype(np.float32), rng)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
