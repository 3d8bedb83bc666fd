"""Loading and checking .tflite files, and preparing a transform model for a given frame shape.

Nothing here runs inference: it reads files, checks tensor shapes, and (for graphs such as
Magenta's whose decoder resizes to constant sizes) rewrites those constants for a new shape.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Precision
from ..errors import ModelError
from .runtime import load_runtime, native_logs_captured

__all__ = [
    "EMBEDDING_DIM",
    "PREDICTOR_INPUT_SIZE",
    "ModelFile",
    "PredictorModel",
    "TensorInfo",
    "TransformModel",
    "file_sha256",
]

EMBEDDING_DIM = 100
PREDICTOR_INPUT_SIZE = 256
_TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class TensorInfo:
    """Name, interpreter index and shapes of one model input or output."""

    name: str
    index: int
    shape: tuple[int, ...]
    signature: tuple[int, ...]  #: shape with -1 for dynamic dimensions
    dtype: Any

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> TensorInfo:
        """Build from one entry of ``Interpreter.get_input_details()``."""
        signature = details.get("shape_signature", details["shape"])
        return cls(
            name=str(details["name"]),
            index=int(details["index"]),
            shape=tuple(int(d) for d in details["shape"]),
            signature=tuple(int(d) for d in signature),
            dtype=details["dtype"],
        )


@dataclass(frozen=True)
class ModelFile:
    """A .tflite file read into memory, with its checksum and tensor layout."""

    path: Path
    content: bytes = field(repr=False)
    sha256: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> ModelFile:
        """Read and check ``path``.

        :raises ModelError: the file is missing, unreadable, not TFLite, corrupt, or its
            checksum differs from ``expected_sha256``.
        """
        path = Path(path)
        try:
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise ModelError(f"model file not found: {path}") from exc
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
        if len(content) < 8 or content[4:8] != _TFLITE_IDENTIFIER:
            raise ModelError(f"{path} is not a TFLite model (no TFL3 identifier)")
        digest = _sha256(content)
        if expected_sha256 and digest != expected_sha256:
            raise ModelError(f"{path} is corrupt: sha256 {digest[:12]}… != expected {expected_sha256[:12]}…")
        try:
            with native_logs_captured():
                interpreter = load_runtime().Interpreter(model_content=content)
            inputs = tuple(TensorInfo.from_details(d) for d in interpreter.get_input_details())
            outputs = tuple(TensorInfo.from_details(d) for d in interpreter.get_output_details())
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path} cannot be loaded by the TFLite runtime: {exc}") from exc
        return cls(path, content, digest, inputs, outputs)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return _sha256(Path(path).read_bytes())


def _is_image(info: TensorInfo) -> bool:
    return len(info.shape) == 4 and info.shape[-1] == 3


def _is_embedding(info: TensorInfo) -> bool:
    return int(np.prod(info.shape[1:])) == EMBEDDING_DIM


def _require_float32(file: ModelFile, infos: tuple[TensorInfo, ...]) -> None:
    for info in infos:
        if info.dtype is not np.float32:
            raise ModelError(f"{file.path.name}: tensor {info.name!r} is {info.dtype}, expected float32")


@dataclass(frozen=True)
class PredictorModel:
    """A style prediction model: 256x256 RGB style image in [0, 1] -> 100-d embedding."""

    file: ModelFile
    input: TensorInfo
    output: TensorInfo

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> PredictorModel:
        """Load and check a predictor (:raises ModelError: on a wrong file or shapes)."""
        file = ModelFile.load(path, expected_sha256)
        want = (1, PREDICTOR_INPUT_SIZE, PREDICTOR_INPUT_SIZE, 3)
        if len(file.inputs) != 1 or file.inputs[0].shape != want:
            got = [i.shape for i in file.inputs]
            raise ModelError(f"{file.path.name} is not a style predictor: inputs {got}, expected [{want}]")
        if len(file.outputs) != 1 or not _is_embedding(file.outputs[0]):
            got = [o.shape for o in file.outputs]
            raise ModelError(
                f"{file.path.name} is not a style predictor: outputs {got}, expected one of {EMBEDDING_DIM} values"
            )
        _require_float32(file, file.inputs + file.outputs)
        return cls(file, file.inputs[0], file.outputs[0])


@dataclass(frozen=True)
class _ConstantResize:
    buffer: int  #: flatbuffer buffer index holding the int32 [h, w] size
    size: tuple[int, int]  #: the size written in the file, for the model's native input size


@dataclass(frozen=True)
class TransformModel:
    """A style transform model: RGB frame in [0, 1] + embedding -> stylized frame in [0, 1].

    :param precision: ``int8`` (CPU) or ``fp16`` (GPU) weights.
    :param native_shape: the (height, width) the file was exported with.
    """

    file: ModelFile
    precision: Precision
    content: TensorInfo
    style: TensorInfo
    output: TensorInfo

    @classmethod
    def load(
        cls, path: str | Path, precision: Precision, expected_sha256: str | None = None
    ) -> TransformModel:
        """Load and check a transform model (:raises ModelError: on a wrong file or shapes)."""
        file = ModelFile.load(path, expected_sha256)
        images = [i for i in file.inputs if _is_image(i)]
        embeddings = [i for i in file.inputs if _is_embedding(i) and not _is_image(i)]
        if len(file.inputs) != 2 or len(images) != 1 or len(embeddings) != 1:
            got = [i.shape for i in file.inputs]
            raise ModelError(
                f"{file.path.name} is not a style transform model: inputs {got}, expected an "
                f"[N,H,W,3] image and a {EMBEDDING_DIM}-value style embedding"
            )
        if len(file.outputs) != 1 or not _is_image(file.outputs[0]):
            got = [o.shape for o in file.outputs]
            raise ModelError(f"{file.path.name} is not a style transform model: outputs {got}")
        _require_float32(file, file.inputs + file.outputs)
        return cls(file, Precision(precision), images[0], embeddings[0], file.outputs[0])

    @property
    def native_shape(self) -> tuple[int, int]:
        """(height, width) of the content input as stored in the file."""
        return (self.content.shape[1], self.content.shape[2])

    @property
    def name(self) -> str:
        """File name, for messages."""
        return self.file.path.name

    @functools.cached_property
    def _constant_resizes(self) -> tuple[_ConstantResize, ...]:
        return _find_constant_resizes(self.file.content)

    @property
    def has_constant_resizes(self) -> bool:
        """True if the graph resizes to sizes fixed in the file (they are rewritten per shape)."""
        return bool(self._constant_resizes)

    def content_for_shape(self, height: int, width: int) -> bytes:
        """Model bytes that produce a true ``height`` x ``width`` output.

        Graphs without constant resize sizes are returned unchanged; for the others every
        constant size is scaled by ``height / native height`` and ``width / native width``.
        """
        if not self._constant_resizes or (height, width) == self.native_shape:
            return self.file.content
        nh, nw = self.native_shape
        sizes = {
            r.buffer: (round(r.size[0] * height / nh), round(r.size[1] * width / nw))
            for r in self._constant_resizes
        }
        return _rewrite_buffers(self.file.content, sizes)


_RESIZE_OPS = ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as exc:  # only tflite-runtime is installed
        raise ModelError("rewriting constant resize sizes needs ai-edge-litert") from exc
    return schema_py_generated


def _find_constant_resizes(content: bytes) -> tuple[_ConstantResize, ...]:
    try:
        schema = _schema()
    except ModelError:
        return ()
    model = schema.Model.GetRootAs(content, 0)
    wanted = {getattr(schema.BuiltinOperator, name) for name in _RESIZE_OPS}
    found: dict[int, _ConstantResize] = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = model.OperatorCodes(op.OpcodeIndex())
            if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) not in wanted:
                continue
            tensor = graph.Tensors(op.Inputs(1))
            data = model.Buffers(tensor.Buffer()).DataAsNumpy()
            if isinstance(data, np.ndarray) and data.size == 8:
                h, w = (int(v) for v in data.view(np.int32))
                found[tensor.Buffer()] = _ConstantResize(tensor.Buffer(), (h, w))
    return tuple(found.values())


def _rewrite_buffers(content: bytes, sizes: dict[int, tuple[int, int]]) -> bytes:
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))
    for index, (h, w) in sizes.items():
        model.buffers[index].data = np.array([h, w], dtype=np.int32).view(np.uint8)
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())
