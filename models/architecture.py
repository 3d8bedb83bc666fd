"""Keras definitions of the student networks and their cost (MACs).

The transform is built for XNNPACK on a small CPU: stride-2 encoder to 1/8 resolution,
depthwise-separable residual blocks there, style conditioning by FiLM (per-channel scale and
bias computed from the 100-d embedding by 1x1 convolutions on the 1x1 embedding "image"), and
a decoder of nearest-neighbour upsamplings each followed by a learnt (bilinear-initialised)
depthwise filter, with skip connections, up to a small stage at full resolution. Every op keeps
dynamic H, W and N, so the exported model runs at any size that is a multiple of 8.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from models.config import EMBEDDING_DIM, PredictorSpec, TransformSpec


class _Film:
    """FiLM conditioning from the shared embedding trunk: ``relu6(x * gamma + beta)``.

    ``x`` is a ReLU6 output and ``gamma = sigmoid(.)`` lies in (0, 1), so the product stays in
    [0, 6]: in the int8 model every FiLM tensor keeps a step of about 6/255 (an unbounded
    scale made the products span hundreds, and their rounding dominated the int8 error).
    """

    def __init__(self, trunk: keras.KerasTensor) -> None:
        self.trunk = trunk
        self.count = 0

    def __call__(self, x: keras.KerasTensor, name: str | None = None) -> keras.KerasTensor:
        channels = x.shape[-1]
        if name is None:  # the trunk's own layers are numbered (film1, film2, ...) in build order
            self.count += 1
            name = f"film{self.count}"
        gamma = layers.Conv2D(channels, 1, activation="sigmoid", kernel_initializer="zeros", name=f"{name}_gamma")(
            self.trunk
        )
        beta = layers.Conv2D(channels, 1, kernel_initializer="zeros", name=f"{name}_beta")(self.trunk)
        x = layers.Add(name=f"{name}_add")([layers.Multiply(name=f"{name}_mul")([x, gamma]), beta])
        return layers.ReLU(6.0, name=f"{name}_relu")(x)


def _sep(
    x: keras.KerasTensor,
    channels: int,
    stride: int = 1,
    name: str = "",
    activation: str | None = "relu6",
    zero: bool = False,
    bias: float = 0.0,
) -> keras.KerasTensor:
    """Depthwise 3x3 (optionally strided) followed by a pointwise projection (ReLU6 by default);
    ``zero``: the projection starts at zero (a residual branch that starts as the identity);
    ``bias``: the projection's initial bias."""
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", name=f"{name}_dw")(x)
    initializer = "zeros" if zero else "glorot_uniform"
    return layers.Conv2D(
        channels,
        1,
        activation=activation,
        kernel_initializer=initializer,
        bias_initializer=keras.initializers.Constant(bias),
        name=f"{name}_pw",
    )(x)


def _decoder_blocks(x: keras.KerasTensor, film: _Film, count: int, prefix: str) -> keras.KerasTensor:
    """``count`` FiLM-conditioned depthwise-separable residual blocks at the decoder's resolution.

    Their last projection starts at zero, so weights of a network without them load into one
    with them (:func:`copy_weights`) and compute the same function before any training.
    """
    channels = x.shape[-1]
    for i in range(count):
        r = film(_sep(x, channels, name=f"{prefix}{i}a"), name=f"{prefix}{i}_film")
        r = _sep(r, channels, name=f"{prefix}{i}b", activation=None, zero=True)
        x = layers.Add(name=f"{prefix}{i}_add")([x, r])
    return x


def _bilinear_kernel(channels: int) -> keras.initializers.Initializer:
    """Depthwise 3x3 ``[1, 2, 1] x [1, 2, 1] / 16`` per channel: after a nearest-neighbour 2x
    upsampling this is exactly bilinear (half-pixel) interpolation, the filter's starting point."""
    taps = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16
    kernel = np.repeat(taps[:, :, None, None], channels, axis=2)
    return keras.initializers.Constant(kernel)


def upsample(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """2x upsampling without a fixed-period pattern: nearest neighbour (the channels repeated four
    times, then ``depth_to_space``: dynamic N, H, W and all in XNNPACK) followed by a depthwise 3x3
    filter that starts as bilinear interpolation. A flat input gives a flat output, unlike a
    pixel shuffle whose four sub-pixel filters differ (a weave at the shuffle's period)."""
    channels = x.shape[-1]
    x = layers.Concatenate(name=f"{name}_repeat")([x, x, x, x])
    x = layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), name=f"{name}_nearest")(x)
    return layers.DepthwiseConv2D(
        3, padding="same", depthwise_initializer=_bilinear_kernel(channels), name=f"{name}_smooth"
    )(x)


def build_transform(spec: TransformSpec | None = None, size: tuple[int, int] | None = None) -> keras.Model:
    """The style transform: (content [N,H,W,3], embedding [N,1,1,100]) -> [N,H,W,3].

    ``size`` fixes H, W (only for counting MACs); by default they are dynamic.
    """
    spec = spec or TransformSpec()
    c1, c2, c3 = spec.widths
    height, width = size if size else (None, None)
    content = keras.Input((height, width, 3), name="content")
    embedding = keras.Input((1, 1, EMBEDDING_DIM), name="style_embedding")
    film = _Film(layers.Conv2D(spec.film_hidden, 1, activation="relu6", name="film_trunk")(embedding))

    e1 = layers.Conv2D(c1, 3, strides=2, padding="same", activation="relu6", name="enc1")(content)
    e2 = film(_sep(e1, c2, 2, "enc2"))
    x = film(_sep(e2, c3, 2, "enc3"))
    for i in range(spec.blocks):
        r = film(_sep(x, c3, name=f"res{i}a"))
        x = layers.Add(name=f"res{i}_add")([x, _sep(r, c3, name=f"res{i}b", activation=None)])

    # Decoder: narrow at the low resolution (1x1), upsample, add the encoder's skip, refine.
    x = upsample(layers.Conv2D(c2, 1, name="dec2_narrow")(x), "dec2_up")
    x = layers.Add(name="dec2_skip")([x, e2])
    x = film(_sep(x, c2, name="dec2"))
    x = _decoder_blocks(x, film, spec.decoder_blocks[0], "dres2_")
    x = upsample(layers.Conv2D(c1, 1, name="dec1_narrow")(x), "dec1_up")
    x = layers.Add(name="dec1_skip")([x, e1])
    x = film(_sep(x, c1, name="dec1"))
    x = _decoder_blocks(x, film, spec.decoder_blocks[1], "dres1_")
    # Clip to [0, 1] as ReLU6 fused into the last conv, then / 6: in int8 the output range is
    # then exactly [0, 6] (a sigmoid would quantize its unbounded logits coarsely). The output
    # starts at mid-grey, inside the clip's linear range (at 0, half of it gets no gradient).
    if spec.output == "shuffle":
        # Sub-pixel head at 1/2 resolution: 4 x 3 outputs per pixel, then depth_to_space.
        x = layers.Conv2D(2 * spec.full_width, 1, activation="relu6", name="dec0_narrow")(x)
        x = _sep(x, 12, name="out_sub", bias=3.0)
        x = layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), name="out_shuffle")(x)
    elif spec.output == "upsample":
        # Full resolution: narrowed first (depthwise filters at full resolution dominate the cost).
        x = upsample(layers.Conv2D(spec.full_width, 1, activation="relu6", name="dec0_narrow")(x), "dec0_up")
        x = _sep(x, 3, name="out", bias=3.0)
    else:
        raise ValueError(f"unknown transform output {spec.output!r} (expected upsample or shuffle)")
    image = layers.Rescaling(1 / 6, name="image")(x)
    return keras.Model([content, embedding], image, name="fast_transform")


def copy_weights(source: keras.Model, target: keras.Model) -> int:
    """Copy every layer's weights from ``source`` to the layer of the same name in ``target``
    (e.g. a trained transform into one with extra decoder blocks); returns how many layers.
    A trained "upsample" head going into a "shuffle" target starts its sub-pixel head
    (:func:`_subpixel_from_upsample`)."""
    names = {layer.name for layer in target.layers}
    if "out_sub_pw" in names and "out_pw" in (layer.name for layer in source.layers):
        _subpixel_from_upsample(source, target)
    copied = 0
    for layer in source.layers:
        if layer.weights and layer.name in names:
            weights = layer.get_weights()
            if [w.shape for w in weights] == [w.shape for w in target.get_layer(layer.name).get_weights()]:
                target.get_layer(layer.name).set_weights(weights)
                copied += 1
    return copied


def _subpixel_from_upsample(source: keras.Model, target: keras.Model) -> None:
    """Start a "shuffle" head as the nearest-neighbour 2x of the trained "upsample" head: its
    first ``full_width`` channels are the trained narrowing and output filter, its four
    sub-pixels all the trained output projection (ICNR: no 2-px pattern before training), its
    extra channels random but not yet read (zero rows in the projection)."""
    narrow_k, narrow_b = source.get_layer("dec0_narrow").get_weights()
    dw_k, dw_b = source.get_layer("out_dw").get_weights()
    pw_k, pw_b = source.get_layer("out_pw").get_weights()
    width = narrow_k.shape[-1]
    t_narrow_k, t_narrow_b = target.get_layer("dec0_narrow").get_weights()
    t_narrow_k[..., :width], t_narrow_b[:width] = narrow_k, narrow_b
    target.get_layer("dec0_narrow").set_weights([t_narrow_k, t_narrow_b])
    t_dw_k, t_dw_b = target.get_layer("out_sub_dw").get_weights()
    t_dw_k[:, :, :width], t_dw_b[:width] = dw_k, dw_b
    target.get_layer("out_sub_dw").set_weights([t_dw_k, t_dw_b])
    t_pw_k = np.zeros(target.get_layer("out_sub_pw").get_weights()[0].shape, np.float32)
    t_pw_k[:, :, :width] = np.tile(pw_k, (1, 1, 1, 4))  # depth_to_space: channel = sub-pixel * 3 + colour
    target.get_layer("out_sub_pw").set_weights([t_pw_k, np.tile(pw_b, 4)])


def _stats(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """Per-channel spatial mean and standard deviation (the texture statistics of a style)."""
    mean = layers.Lambda(lambda t: tf.reduce_mean(t, axis=[1, 2], keepdims=True), name=f"{name}_mean")(x)
    square = layers.Lambda(lambda t: tf.reduce_mean(tf.square(t), axis=[1, 2], keepdims=True), name=f"{name}_sq")(x)
    std = layers.Lambda(lambda t: tf.sqrt(tf.nn.relu(t[1] - tf.square(t[0])) + 1e-4), name=f"{name}_std")(
        [mean, square]
    )
    return layers.Concatenate(name=f"{name}_stats")([mean, std])


def build_predictor(spec: PredictorSpec | None = None) -> keras.Model:
    """The style predictor: style image [N,256,256,3] in [0,1] -> embedding [N,1,1,100]."""
    image = keras.Input((256, 256, 3), name="style_image")
    w1, w2, w3, w4 = (spec or PredictorSpec()).widths
    x = layers.Conv2D(w1, 3, strides=2, padding="same", activation="relu6", name="stem")(image)
    pooled = []
    for i, width in enumerate((w2, w3, w4)):
        x = _sep(x, width, 2, f"s{i}a")
        x = _sep(x, width, 1, f"s{i}b")
        pooled.append(_stats(x, f"s{i}"))
    x = layers.Concatenate(name="stats")(pooled)
    x = layers.Conv2D((spec or PredictorSpec()).head, 1, activation="relu", name="head")(x)
    embedding = layers.Conv2D(EMBEDDING_DIM, 1, name="embedding")(x)
    return keras.Model(image, embedding, name="style_predictor")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of the convolutions, for a model built with a static input size."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            out_h, out_w, channels = layer.output.shape[1:]
            total += layer.kernel_size[0] * layer.kernel_size[1] * channels * out_h * out_w
        elif isinstance(layer, layers.Conv2D):
            out_h, out_w, channels = layer.output.shape[1:]
            kernel = layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1]
            total += kernel * channels * out_h * out_w
    return int(total)
