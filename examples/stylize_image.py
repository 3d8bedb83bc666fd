"""Stylize one image with the public API.

    python examples/stylize_image.py photo.jpg starry out.jpg
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
from PIL import Image

from streamer import Engine, Frame, ProcessingSize, QueuePolicy, StyleRecipe


async def stylize(image: np.ndarray, style: str) -> np.ndarray:
    """Return ``image`` (RGB uint8) painted in ``style`` (a built-in name or an image path)."""
    async with Engine.create() as engine:
        print(engine.report.summary)
        stream = engine.open_stream("example", QueuePolicy.LOSSLESS, size=ProcessingSize(512))
        await stream.set_style(StyleRecipe.of(style))
        return (await stream.stylize(Frame(image))).image


def main() -> None:
    source, style, target = sys.argv[1:4]
    image = np.asarray(Image.open(source).convert("RGB"))
    Image.fromarray(asyncio.run(stylize(image, style))).save(target)


if __name__ == "__main__":
    main()
