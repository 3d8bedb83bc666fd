"""LiteRT helpers: interpreters, XNNPACK coverage, and the size rewrite for Magenta's transfer model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from streamer.config import Precision
from streamer.inference.modelfile import TransformModel

THREADS = 2


def load(model: Path | bytes, threads: int = THREADS, preserve: bool = False) -> Interpreter:
    """Create an interpreter from a file or flatbuffer bytes (XNNPACK is on by default)."""
    kwargs: dict[str, object] = {"num_threads": threads}
    if preserve:
        kwargs["experimental_preserve_all_tensors"] = True
    if isinstance(model, bytes):
        return Interpreter(model_content=model, **kwargs)
    return Interpreter(model_path=str(model), **kwargs)


def input_index(interpreter: Interpreter, rank_last: int) -> int:
    """Index of the input whose last dimension is ``rank_last`` (3: image, 100: embedding)."""
    for detail in interpreter.get_input_details():
        if detail["shape"][-1] == rank_last:
            return int(detail["index"])
    raise ValueError(f"no input with last dimension {rank_last}")


class Transform:
    """A style transform ``(content [N,H,W,3], embedding [N,1,1,100]) -> [N,H,W,3]``.

    Resizes the interpreter's inputs when the frame shape changes.
    """

    def __init__(self, model: Path | bytes, threads: int = THREADS) -> None:
        self.interpreter = load(model, threads)
        self.interpreter.allocate_tensors()
        self._content = input_index(self.interpreter, 3)
        self._style = input_index(self.interpreter, 100)
        self._output = int(self.interpreter.get_output_details()[0]["index"])
        self._shape: tuple[int, ...] = ()

    def prepare(self, shape: tuple[int, ...]) -> None:
        """Resize for a content batch of ``shape`` = (N, H, W, 3)."""
        if shape != self._shape:
            self.interpreter.resize_tensor_input(self._content, list(shape), strict=False)
            self.interpreter.resize_tensor_input(self._style, [shape[0], 1, 1, 100], strict=False)
            self.interpreter.allocate_tensors()
            self._shape = shape

    def __call__(self, content: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """Stylize float32 content ``[N,H,W,3]`` in [0,1] with embeddings ``[N,1,1,100]``."""
        self.prepare(content.shape)
        self.interpreter.set_tensor(self._content, np.ascontiguousarray(content, np.float32))
        self.interpreter.set_tensor(self._style, np.ascontiguousarray(embedding, np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)


class Predictor:
    """A style predictor ``[1,256,256,3] -> [1,1,1,100]``."""

    def __init__(self, model: Path | bytes, threads: int = THREADS) -> None:
        self.interpreter = load(model, threads)
        self.interpreter.allocate_tensors()
        self._input = int(self.interpreter.get_input_details()[0]["index"])
        self._output = int(self.interpreter.get_output_details()[0]["index"])

    def __call__(self, style: np.ndarray) -> np.ndarray:
        """Embed one preprocessed style image ``[256,256,3]`` or ``[1,256,256,3]``."""
        self.interpreter.set_tensor(self._input, style.reshape(1, 256, 256, 3).astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output).copy()


def magenta_at_size(path: Path, height: int, width: int) -> bytes:
    """Return Magenta's transfer model rewritten to run at ``height`` x ``width``.

    Its decoder resizes to sizes fixed in the file (for 384x384); the rewrite is the one the
    product uses (:meth:`streamer.inference.modelfile.TransformModel.content_for_shape`).
    """
    if height % 4 or width % 4:
        raise ValueError("Magenta's transfer model needs sizes divisible by 4")
    model = TransformModel.load(path, Precision.INT8 if "int8" in path.name else Precision.FP16)
    if not model.has_constant_resizes:
        raise ValueError(f"{path.name} has no constant resize sizes: not Magenta's transfer model")
    return model.content_for_shape(height, width)
