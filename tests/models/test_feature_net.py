"""The float MobileNetV2 copy (models/feature_net.py) and the fine-tune stage's Gram loss.

TensorFlow runs in a child process (see test_training.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.models.test_training import needs_tensorflow, python_result, run_python

# Float copy vs the uint8 TFLite model's own intermediate tensors on real val photos.
# Measured: correlation 0.998-1.000 on every layer up to expanded_conv_9, relative Gram
# difference 0.1-4 % (the uint8 model rounds every activation; the copy does not).
_COMPARE = """
import json, warnings
import numpy as np
from models import catalogue
from models.config import GRAM_LAYERS
from models.feature_net import backbone
from models.imaging import center_square, load_rgb, resize, to_float
from models.litert import load
from models.metrics import CONTENT_LAYERS, STYLE_LAYERS
from models.paths import shared_model

layers = tuple(dict.fromkeys(GRAM_LAYERS + STYLE_LAYERS + CONTENT_LAYERS[:1]))
net = backbone(layers)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    interpreter = load(shared_model("backbone"), preserve=True)
interpreter.allocate_tensors()
detail = interpreter.get_input_details()[0]
scale, zero = detail["quantization"]
index = {}
for tensor in interpreter.get_tensor_details():
    name = tensor["name"].split(";")[0]
    if name in layers and name not in index:
        index[name] = (tensor["index"], *tensor["quantization"])
result = {}
for path in catalogue.content_images("val")[:3]:
    image = resize(to_float(center_square(load_rgb(path))), 224, 224)
    quantized = np.clip(np.rint((image * 2 - 1) / scale + zero), 0, 255).astype(np.uint8)
    interpreter.set_tensor(detail["index"], quantized[None])
    interpreter.invoke()
    ours = net(((quantized.astype(np.float32) - zero) * scale + 1)[None] / 2)
    for name in layers:
        i, s, z = index[name]
        reference = (interpreter.get_tensor(i).astype(np.float32) - z) * s
        a = ours[name].numpy().reshape(-1, reference.shape[-1])
        b = reference.reshape(-1, reference.shape[-1])
        ga, gb = a.T @ a / len(a), b.T @ b / len(b)
        row = result.setdefault(name, {"corr": 1.0, "gram": 0.0})
        row["corr"] = min(row["corr"], float(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
        row["gram"] = max(row["gram"], float(np.linalg.norm(ga - gb) / np.linalg.norm(gb)))
print("RESULT" + json.dumps(result))
"""


@needs_tensorflow
def test_feature_net_when_compared_to_tflite_tensors_then_close(shared_data: Path) -> None:
    # given / when
    output = run_python(_COMPARE).stdout
    result = json.loads(output.split("RESULT", 1)[1])
    # then
    assert len(result) >= 8
    for name, row in result.items():
        assert row["corr"] > 0.99, (name, row)
        assert row["gram"] < 0.1, (name, row)


@needs_tensorflow
def test_texture_term_when_images_equal_then_zero_and_when_different_then_positive() -> None:
    # the fine-tune loss minus its pixel terms: the teacher-output Gram term, jittered view
    values = python_result(
        "import dataclasses, numpy as np, tensorflow as tf\n"
        "from models.config import CONFIGS\n"
        "from models.feature_net import stand_in\n"
        "from models.losses import finetune_loss, transform_loss\n"
        "config = dataclasses.replace(CONFIGS['tiny'], gram_weight=1.0, style_weight=0.0, gram_jitter=0.1,\n"
        "                             gram_scale=0.5)\n"
        "full, pixels = finetune_loss(config, stand_in(config.gram_layers)), transform_loss(config.gradient_weight)\n"
        "none = tf.constant([-1, -1], tf.int32)\n"
        "texture = lambda a, b: full((a, none), b) - pixels(a, b)\n"
        "rng = np.random.default_rng(0)\n"
        "a = tf.constant(rng.random((2, 48, 48, 3), np.float32))\n"
        "b = tf.constant(np.clip(a.numpy() + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32))\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(b)\n"
        "    value = texture(a, b)\n"
        "grad = tape.gradient(value, b)\n"
        "print('RESULT', float(texture(a, a)), float(value), float(tf.reduce_max(tf.abs(grad))))\n"
    )
    same, different, gradient = map(float, values)
    assert abs(same) < 1e-4
    assert different > 0.01 and gradient > 0
