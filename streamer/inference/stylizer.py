"""Everything the inference thread owns: the transform, the predictor, and the pixel plumbing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..frames import Frame
from .backends import BackendOptions, BackendReport, open_transform
from .catalog import ModelSet
from .imaging import from_model_output, style_input, to_model_input
from .runners import PredictorRunner, TransformRunner

__all__ = ["FrameStylizer", "Stylizer", "output_sizes"]


def output_sizes(frames: list[Frame], shape: tuple[int, int], upscale: list[bool] | None) -> list[tuple[int, int]]:
    """(height, width) of each stylized frame: its own size, or ``shape`` where ``upscale[i]``
    is False (a sink scales it)."""
    return [(f.height, f.width) if upscale is None or upscale[i] else shape for i, f in enumerate(frames)]


class FrameStylizer(Protocol):
    """What the inference thread owns: a :class:`Stylizer`, or one in a process of its own
    (:class:`~streamer.inference.process.ProcessStylizer`)."""

    report: BackendReport

    @property
    def supports_batching(self) -> bool:
        """True while a batch of frames runs as one transform invocation."""
        ...

    def stylize(self, frames: list[Frame], styles: list[np.ndarray], shape: tuple[int, int],
                upscale: list[bool] | None = None) -> list[Frame]:
        """See :meth:`Stylizer.stylize`."""
        ...

    def embed(self, image: np.ndarray) -> np.ndarray:
        """See :meth:`Stylizer.embed`."""
        ...

    @property
    def predictor_runs(self) -> int:
        """See :meth:`Stylizer.predictor_runs`."""
        ...

    def close(self) -> None:
        """Release everything."""
        ...


@dataclass
class Stylizer:
    """Stylizes batches of frames and embeds style images. Not thread-safe: one owner thread.

    Build it with :meth:`open` on the thread that will use it.
    """

    transform: TransformRunner
    predictor: PredictorRunner | None
    report: BackendReport

    @classmethod
    def open(cls, model_set: ModelSet, options: BackendOptions) -> Stylizer:
        """Load the predictor and the transform on the best allowed backend."""
        transform, report = open_transform(model_set, options)
        try:
            model = model_set.load_predictor()
            predictor = PredictorRunner(model, options.threads) if model is not None else None
        except BaseException:
            transform.close()
            raise
        return cls(transform, predictor, report)

    def stylize(self, frames: list[Frame], styles: list[np.ndarray], shape: tuple[int, int],
                upscale: list[bool] | None = None) -> list[Frame]:
        """Stylize ``frames`` (all run at ``shape``); each output keeps its input's timing and
        size, or stays at ``shape`` where ``upscale[i]`` is False (a sink scales it)."""
        sizes = output_sizes(frames, shape, upscale)
        images = self.stylize_images([f.image for f in frames], styles, shape, sizes)
        return [f.with_image(image) for f, image in zip(frames, images, strict=True)]

    def stylize_images(self, images: list[np.ndarray], styles: list[np.ndarray], shape: tuple[int, int],
                       sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Stylize RGB ``images`` run at ``shape``; output ``i`` is ``sizes[i]`` (height, width)."""
        batch = np.empty((len(images), *shape, 3), np.float32)
        for i, image in enumerate(images):
            to_model_input(image, shape, out=batch[i])
        embeddings = np.stack(styles).astype(np.float32, copy=False)
        out = self.transform.run(batch, embeddings)
        return [from_model_output(out[i], *sizes[i]) for i in range(len(images))]

    @property
    def supports_batching(self) -> bool:
        """True while a batch of frames runs as one transform invocation."""
        return self.transform.supports_batching

    def embed(self, image: np.ndarray) -> np.ndarray:
        """Style embedding of an ``H x W x 3`` uint8 RGB image (raises if there is no predictor)."""
        if self.predictor is None:
            from ..errors import ModelError

            raise ModelError("this model set has no style predictor: use a built-in style name")
        return self.predictor.predict(style_input(image))

    @property
    def predictor_runs(self) -> int:
        """How many times the predictor ran (to check that the embedding cache works)."""
        return self.predictor.runs if self.predictor is not None else 0

    def close(self) -> None:
        """Release the transform and predictor."""
        self.transform.close()
        if self.predictor is not None:
            self.predictor.close()
