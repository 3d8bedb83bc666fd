"""Keras -> TFLite conversion: float32, float16 weights, and full-integer int8 with float I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

RepresentativeData = Callable[[], Iterator[list[np.ndarray]]]


def _concrete(model: keras.Model, dynamic_batch: bool = True) -> tf.types.experimental.ConcreteFunction:
    """Trace ``model`` with dynamic batch (and dynamic H, W where the model has them)."""
    specs = []
    for tensor in model.inputs:
        shape = [None if dynamic_batch else 1, *tensor.shape[1:]]
        specs.append(tf.TensorSpec(shape, tf.float32, name=tensor.name))

    @tf.function(input_signature=specs)
    def serve(*args: tf.Tensor) -> tf.Tensor:
        return model(list(args) if len(args) > 1 else args[0], training=False)

    return serve.get_concrete_function()


def to_tflite(
    model: keras.Model,
    kind: str,
    representative: RepresentativeData | None = None,
    dynamic_batch: bool = True,
) -> bytes:
    """Convert to ``fp32``, ``fp16`` (float16 weights) or ``int8`` (needs ``representative``).

    The int8 model is integer-only inside; its inputs and outputs stay float32, so both
    variants are fed the same way.
    """
    function = _concrete(model, dynamic_batch)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if kind == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs representative data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif kind != "fp32":
        raise ValueError(f"unknown kind {kind!r}")
    return bytes(converter.convert())
