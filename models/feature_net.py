"""A differentiable float copy of the first blocks of the evaluation backbone (MobileNetV2).

The weights are read and dequantized at run time from the uint8 ImageNet MobileNetV2 TFLite file
of the shared data (``models/backbone/mobilenet_v2_1.0_224_quant.tflite``); nothing of it is
stored in the repository. Only the operators up to the last requested tensor are rebuilt
(CONV_2D, DEPTHWISE_CONV_2D, ADD with their fused ReLU6), as TensorFlow ops on constant float
weights: ``real = scale * (q - zero_point)`` (per channel where the file has several scales),
int32 biases with their own scale (``input_scale * weight_scale``).

Used by the fine-tune stage (:mod:`models.train`) for a texture-statistics (Gram) loss; in
synthetic configurations a stand-in with random filters (:func:`stand_in`) takes its place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from models.config import GRAM_LAYERS

Features = Callable[[tf.Tensor], dict[str, tf.Tensor]]
"""A feature net: float RGB images in [0, 1] -> activations by tensor name."""

_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"}
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}


def tensor_name(raw: bytes | str) -> str:
    """The first name of a (possibly ``;``-joined) TFLite tensor name, as :mod:`models.metrics`."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    return text.split(";")[0]


def _dequantize(tensor: schema.TensorT, buffer: schema.BufferT) -> np.ndarray:
    dtype = {schema.TensorType.UINT8: np.uint8, schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[
        tensor.type
    ]
    raw = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), dtype).reshape(tensor.shape)
    quant = tensor.quantization
    scale = np.asarray(quant.scale, np.float64)
    zero = np.asarray(quant.zeroPoint, np.float64)
    if scale.size > 1:  # per channel along quantized_dimension
        shape = [1] * raw.ndim
        shape[quant.quantizedDimension] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((raw.astype(np.float64) - zero) * scale).astype(np.float32)


class FeatureNet:
    """Float MobileNetV2 prefix: ``images [N,H,W,3] in [0,1] -> {tensor name: [N,h,w,c]}``.

    The input goes in as the TFLite model sees it (``2 x - 1``); any H, W work (the metric uses
    224x224; SAME padding as the original graph).
    """

    def __init__(self, model: Path | bytes, layers: Sequence[str]) -> None:
        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        flat = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
        graph = flat.subgraphs[0]
        codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.layers = tuple(layers)
        wanted = set(self.layers)
        self._input = int(graph.inputs[0])
        self._steps: list[tuple[str, list[int], int, dict]] = []
        self._constants: dict[int, tf.Tensor] = {}
        self._names: dict[int, str] = {}
        for op in graph.operators:
            code = flat.operatorCodes[op.opcodeIndex]
            kind = codes[max(code.builtinCode, code.deprecatedBuiltinCode)]
            if kind not in _OPS:
                raise ValueError(f"operator {kind} not supported before {sorted(wanted)}")
            options = op.builtinOptions
            spec = {
                "activation": _ACTIVATIONS[options.fusedActivationFunction],
                "stride": getattr(options, "strideH", 1),
                "padding": "SAME" if getattr(options, "padding", 0) == schema.Padding.SAME else "VALID",
            }
            inputs = [int(i) for i in op.inputs]
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                weights = _dequantize(graph.tensors[inputs[1]], flat.buffers[graph.tensors[inputs[1]].buffer])
                bias = _dequantize(graph.tensors[inputs[2]], flat.buffers[graph.tensors[inputs[2]].buffer])
                # TFLite: conv [out, kh, kw, in], depthwise [1, kh, kw, channels]; TF: [kh, kw, in, out|1].
                if kind == "CONV_2D":
                    weights = weights.transpose(1, 2, 3, 0)
                else:
                    weights = weights[0][..., None]
                self._constants[inputs[1]] = tf.constant(weights)
                self._constants[inputs[2]] = tf.constant(bias)
            output = int(op.outputs[0])
            self._steps.append((kind, inputs, output, spec))
            self._names[output] = tensor_name(graph.tensors[output].name)
            wanted.discard(self._names[output])
            if not wanted:
                break
        if wanted:
            raise ValueError(f"tensors not found: {sorted(wanted)}")

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Activations of :attr:`layers` for float RGB ``images`` in [0, 1]."""
        values: dict[int, tf.Tensor] = {self._input: images * 2.0 - 1.0}
        out: dict[str, tf.Tensor] = {}
        for kind, inputs, output, spec in self._steps:
            x = values[inputs[0]]
            if kind == "CONV_2D":
                stride = spec["stride"]
                y = tf.nn.conv2d(x, self._constants[inputs[1]], stride, spec["padding"]) + self._constants[inputs[2]]
            elif kind == "DEPTHWISE_CONV_2D":
                stride = spec["stride"]
                y = tf.nn.depthwise_conv2d(
                    x, self._constants[inputs[1]], [1, stride, stride, 1], spec["padding"]
                ) + self._constants[inputs[2]]
            else:
                y = x + values[inputs[1]]
            if spec["activation"] == "relu6":
                y = tf.nn.relu6(y)
            elif spec["activation"] == "relu":
                y = tf.nn.relu(y)
            values[output] = y
            name = self._names[output]
            if name in self.layers and name not in out:
                out[name] = y
        return out


def backbone(layers: Sequence[str] = GRAM_LAYERS) -> FeatureNet:
    """The float copy of the shared data's MobileNetV2 (raises if the shared data is missing)."""
    from models.paths import shared_model

    return FeatureNet(shared_model("backbone"), layers)


class StandIn:
    """Random-filter conv stack with the same interface (synthetic configurations, tests)."""

    def __init__(self, layers: Sequence[str], seed: int = 0, width: int = 8) -> None:
        rng = np.random.default_rng(seed)
        self.layers = tuple(layers)
        self._kernels = []
        channels = 3
        for _ in self.layers:
            kernel = rng.normal(size=(3, 3, channels, width)) / np.sqrt(9 * channels)
            self._kernels.append(tf.constant(kernel.astype(np.float32)))
            channels = width

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = images * 2.0 - 1.0
        out: dict[str, tf.Tensor] = {}
        for name, kernel in zip(self.layers, self._kernels, strict=True):
            x = tf.nn.relu6(tf.nn.conv2d(x, kernel, 2 if out else 1, "SAME"))
            out[name] = x
        return out


def stand_in(layers: Sequence[str] = GRAM_LAYERS, seed: int = 0) -> StandIn:
    """A cheap stand-in feature net needing no shared data."""
    return StandIn(layers, seed)


def gram(features: tf.Tensor) -> tf.Tensor:
    """Gram matrices ``[N, c, c]`` of ``[N, h, w, c]`` activations, divided by ``h w``."""
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2], features.dtype)
