"""Visual evidence: contact sheets with 1:1 crops of flat areas, and a side-by-side clip.

Contact sheet (one JPEG per style): for each photo, a row of thumbnails (content | Magenta |
ours ...) and under it a row of 1:1 crops of the same window of the processing grid, the
flattest window of the content (lowest mean local variance, :func:`flattest_window`), where a
fixed-period weave shows. The window is outlined on the content thumbnail.

Side-by-side clip: the first seconds of a shared clip at a processing short side, content |
Magenta | ours, one style, H.264 (:func:`models.clips.write_h264`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from models import clips
from models.imaging import resize, save_rgb, style_input, to_uint8
from models.picture_metrics import local_variance
from models.stylizers import Stylizer

TILE = 160
LABEL_HEIGHT = 28
WINDOW_STEP = 8


def flattest_window(image: np.ndarray, size: int, step: int = WINDOW_STEP) -> tuple[int, int]:
    """``(top, left)`` of the ``size`` x ``size`` window (on a ``step`` grid) of a float RGB image
    with the lowest mean local variance: its flattest area (sky, wall, skin)."""
    height, width = image.shape[:2]
    if size > min(height, width):
        raise ValueError(f"window {size} larger than the image {width}x{height}")
    texture = local_variance(image).astype(np.float64)
    integral = cv2.integral(texture)
    best, where = np.inf, (0, 0)
    for top in range(0, height - size + 1, step):
        for left in range(0, width - size + 1, step):
            total = (
                integral[top + size, left + size]
                - integral[top, left + size]
                - integral[top + size, left]
                + integral[top, left]
            )
            if total < best:
                best, where = total, (top, left)
    return where


def flattest_photos(photos: Mapping[str, np.ndarray], count: int, size: int = TILE) -> list[str]:
    """Names of the ``count`` photos whose flattest window is flattest."""

    def score(image: np.ndarray) -> float:
        top, left = flattest_window(image, size)
        return float(local_variance(image)[top : top + size, left : left + size].mean())

    return sorted(photos, key=lambda name: score(photos[name]))[:count]


def _label(width: int, text: str, swatch: np.ndarray | None = None) -> np.ndarray:
    bar = np.full((LABEL_HEIGHT, width, 3), 255, np.uint8)
    offset = 6
    if swatch is not None:
        bar[:, :LABEL_HEIGHT] = to_uint8(resize(swatch, LABEL_HEIGHT, LABEL_HEIGHT))
        offset = LABEL_HEIGHT + 6
    cv2.putText(bar, text, (offset, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def contact_sheet(
    path: Path,
    title: str,
    style: np.ndarray,
    contents: Sequence[np.ndarray],
    columns: Mapping[str, Stylizer],
    embeddings: Mapping[str, np.ndarray],
) -> None:
    """Write one sheet: per content, thumbnails then 1:1 flat-area crops of content and each
    column (``columns[name](content, embeddings[name])``)."""
    rows = []
    for content in contents:
        outputs = [content] + [stylize(content, embeddings[name]) for name, stylize in columns.items()]
        top, left = flattest_window(content, TILE)
        thumbs = [to_uint8(resize(image, TILE, TILE)) for image in outputs]
        scale = TILE / content.shape[0]
        corner = (round(left * scale), round(top * scale))
        far = (round((left + TILE) * scale) - 1, round((top + TILE) * scale) - 1)
        cv2.rectangle(thumbs[0], corner, far, (255, 255, 0), 1)
        crops = [to_uint8(image[top : top + TILE, left : left + TILE]) for image in outputs]
        rows += [np.hstack(thumbs), np.hstack(crops)]
    width = TILE * (len(columns) + 1)
    header = _label(width, title, style_input(style))
    names = " | ".join(["content", *columns])
    legend = _label(width, f"{names}; under each row: 1:1 crops of the outlined flattest window")
    save_rgb(path, np.vstack([header, legend, *rows]), quality=80)


def side_by_side(
    path: Path,
    clip: str,
    stylizers: Mapping[str, Stylizer],
    embedding: np.ndarray,
    seconds: float,
    short_side: int,
    bit_rate: int = 2_500_000,
) -> None:
    """Write the first ``seconds`` of ``clip`` as content | each stylizer, labelled, at the
    processing size (1:1), H.264."""
    source = clips.clip_path(clip)
    fps = clips.frame_rate(source)
    count = min(int(seconds * fps), clips.frame_count(source))
    frames = clips.read_frames(source, range(count), short_side)

    def panels() -> list[np.ndarray]:
        out = []
        for index in range(count):
            content = frames[index]
            images = [content] + [stylize(content, embedding) for stylize in stylizers.values()]
            out.append(np.hstack([to_uint8(image) for image in images]))
        return out

    strip = panels()
    height, width = strip[0].shape[:2]
    panel = width // (len(stylizers) + 1)
    bar = np.hstack([_label(panel, name) for name in ["content", *stylizers]])
    even = (LABEL_HEIGHT + height) // 2 * 2, width // 2 * 2
    clips.write_h264(path, [np.vstack([bar, frame])[: even[0], : even[1]] for frame in strip], fps, bit_rate)
