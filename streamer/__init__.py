"""streamer: neural style transfer for live and recorded video.

.. code-block:: python

    import asyncio
    from streamer import Engine, Frame, ProcessingSize, QueuePolicy, StyleRecipe

    async def stylize(image):
        async with Engine.create() as engine:
            stream = engine.open_stream("demo", QueuePolicy.LOSSLESS, size=ProcessingSize(384))
            await stream.set_style(StyleRecipe.of("starry"))
            return (await stream.stylize(Frame(image))).image
"""

import logging

from .config import Backend, Precision, ProcessingSize, QueuePolicy
from .engine import Engine, EngineState, EngineStream
from .errors import StreamerError
from .frames import Frame
from .inference import BackendOptions, BackendReport, find_model_set
from .styles import StyleRecipe

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendOptions",
    "BackendReport",
    "Engine",
    "EngineState",
    "EngineStream",
    "Frame",
    "Precision",
    "ProcessingSize",
    "QueuePolicy",
    "StreamerError",
    "StyleRecipe",
    "__version__",
    "find_model_set",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
