"""Quality metrics: style and content distances on a frozen MobileNetV2, SSIM and PSNR.

Style distance: mean over four layers of ``|G(out) - G(style)|_F / |G(style)|_F`` with
``G = F^T F / (h w)`` the Gram matrix of the layer's activations. Content distance: mean over
two layers of ``|F(out) - F(content)| / |F(content)|``. Images go through the backbone at
224x224 (the uint8 ImageNet model of the shared data, read with all tensors preserved).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from models.imaging import resize
from models.litert import load
from models.paths import shared_model

STYLE_LAYERS = (
    "MobilenetV2/expanded_conv_1/expand/Relu6",
    "MobilenetV2/expanded_conv_2/add",
    "MobilenetV2/expanded_conv_5/add",
    "MobilenetV2/expanded_conv_9/add",
)
CONTENT_LAYERS = ("MobilenetV2/expanded_conv_5/add", "MobilenetV2/expanded_conv_12/add")


class Backbone:
    """Intermediate activations of the frozen uint8 MobileNetV2 (dequantized to float)."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "preserve all tensors is for debugging"
            self._interpreter = load(shared_model("backbone"), preserve=True)
        self._interpreter.allocate_tensors()
        detail = self._interpreter.get_input_details()[0]
        self._input = int(detail["index"])
        self._scale, self._zero = detail["quantization"]
        wanted = set(STYLE_LAYERS) | set(CONTENT_LAYERS)
        self._layers: dict[str, tuple[int, float, int]] = {}
        for tensor in self._interpreter.get_tensor_details():
            name = tensor["name"].split(";")[0]
            if name in wanted and name not in self._layers:
                scale, zero = tensor["quantization"]
                self._layers[name] = (int(tensor["index"]), scale, zero)
        missing = wanted - set(self._layers)
        if missing:
            raise RuntimeError(f"backbone tensors not found: {sorted(missing)}")

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Activations ``[h*w, c]`` of the metric layers for a float RGB image in [0, 1]."""
        small = resize(image.astype(np.float32), 224, 224)
        quantized = np.clip(np.rint((small * 2 - 1) / self._scale + self._zero), 0, 255)
        self._interpreter.set_tensor(self._input, quantized.astype(np.uint8)[None])
        self._interpreter.invoke()
        out = {}
        for name, (index, scale, zero) in self._layers.items():
            raw = self._interpreter.get_tensor(index).astype(np.float32)
            out[name] = ((raw - zero) * scale).reshape(-1, raw.shape[-1])
        return out


def grams(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gram matrices of the style layers."""
    return {name: features[name].T @ features[name] / len(features[name]) for name in STYLE_LAYERS}


def style_distance(features: dict[str, np.ndarray], style_grams: dict[str, np.ndarray]) -> float:
    """Relative Gram-matrix distance to the style image (lower: closer to the style)."""
    own = grams(features)
    return float(
        np.mean(
            [np.linalg.norm(own[name] - style_grams[name]) / np.linalg.norm(style_grams[name]) for name in STYLE_LAYERS]
        )
    )


def content_distance(features: dict[str, np.ndarray], content: dict[str, np.ndarray]) -> float:
    """Relative feature distance to the content image (lower: more content kept)."""
    return float(
        np.mean(
            [np.linalg.norm(features[name] - content[name]) / np.linalg.norm(content[name]) for name in CONTENT_LAYERS]
        )
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two float images in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Gaussian 11x11, sigma 1.5), averaged over RGB channels."""
    c1, c2 = 0.01**2, 0.03**2
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())
