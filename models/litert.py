"""LiteRT helpers: interpreters, XNNPACK coverage, and the size rewrite for Magenta's transfer model."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

THREADS = 2

# Magenta's decoder upsamples with constant target sizes; factor = output size / transfer size.
_MAGENTA_RESIZE_FACTORS = {
    "transformer/expand/conv1/ResizeNearestNeighbor/size": 2,
    "transformer/expand/conv2/ResizeNearestNeighbor/size": 1,
    "transformer/expand/conv3/ResizeNearestNeighbor/size": 1,
}


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

    Its three RESIZE_NEAREST_NEIGHBOR ops have constant size tensors for 384x384; they are
    set to (H/2, W/2), (H, W), (H, W) and the content input to [1, H, W, 3].
    """
    if height % 4 or width % 4:
        raise ValueError("Magenta's transfer model needs sizes divisible by 4")
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(path.read_bytes(), 0))
    graph = model.subgraphs[0]
    for tensor in graph.tensors:
        factor = _MAGENTA_RESIZE_FACTORS.get(tensor.name.decode())
        if factor is not None:
            size = np.array([height // factor, width // factor], np.int32)
            model.buffers[tensor.buffer].data = np.frombuffer(size.tobytes(), np.uint8)
    for index in graph.inputs:
        tensor = graph.tensors[index]
        if list(tensor.shape) == [1, 384, 384, 3]:
            tensor.shape = np.array([1, height, width, 3], np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
