"""The training code end to end on the tiny configuration (generated images, stand-in teacher)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import data
from models.config import CONFIGS, with_overrides

REPO = Path(__file__).resolve().parents[2]

# TensorFlow runs in a child process: loaded next to aiortc's pylibsrtp in one process it
# crashes the interpreter (conflicting bundled native libraries), and the suite shares a process.
needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                      reason="training needs the 'train' extra (tensorflow)")


def run_python(code: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root; fail with its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@needs_tensorflow
def test_tiny_run_when_trained_then_writes_weights_and_exports(tmp_path: Path) -> None:
    from models.litert import Predictor, Transform

    # given / when: train and export the tiny configuration
    run_python(
        "from pathlib import Path\n"
        "from models import export, train\n"
        "from models.config import CONFIGS\n"
        f"work = Path({str(tmp_path)!r})\n"
        "train.main(['--config', 'tiny', '--work', str(work)])\n"
        "export.export_models(CONFIGS['tiny'], work / 'tiny', work / 'tiny' / 'export')\n"
    )
    work = tmp_path / "tiny"
    # then: the tiny configuration also runs the fine-tune stage (Gram term on a stand-in net)
    assert (work / "transform.weights.h5").exists() and (work / "predictor.weights.h5").exists()
    assert (work / "finetune.weights.h5").exists()
    transform = Transform(work / "export" / "transform_int8.tflite")
    output = transform(
        np.random.default_rng(0).random((2, 40, 24, 3), np.float32), np.zeros((2, 1, 1, 100), np.float32)
    )
    assert output.shape == (2, 40, 24, 3)
    embedding = Predictor(work / "export" / "predictor_fp16.tflite")(np.zeros((256, 256, 3), np.float32))
    assert embedding.shape == (1, 1, 1, 100)


@needs_tensorflow
def test_tiny_run_when_restarted_then_resumes_from_checkpoint(tmp_path: Path) -> None:
    train = ("import logging, sys\n"
             "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')\n"
             "from models import train\n"
             f"train.main(['--config', 'tiny', '--work', {str(tmp_path)!r}, '--only', 'transform'])\n")
    first = run_python(train)
    assert "resumed at step" not in first.stdout + first.stderr
    second = run_python(train)
    assert "resumed at step" in second.stdout + second.stderr


def test_data_sets_when_built_twice_then_identical(tmp_path: Path) -> None:
    config = CONFIGS["tiny"]
    for name in ("a", "b"):
        sources = data.synthetic_sources(config.seed)
        data.build_transform_set(sources, config, tmp_path / name)
    first, second = data.open_set(tmp_path / "a"), data.open_set(tmp_path / "b")
    assert len(first["content"]) == config.transform_runs * config.crops_per_run
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_canvas_when_photo_is_portrait_then_landscape_window_of_requested_size() -> None:
    photo = np.zeros((500, 300, 3), np.uint8)
    window = data._canvas(photo, 256, np.random.default_rng(0))
    assert window.shape == (256, 344, 3)


def test_config_overrides_set_fields_and_refuse_bad_assignments() -> None:
    base = CONFIGS["tiny"]
    changed = with_overrides(base, ["gram_weight=0.3", "finetune_steps=7", "gram_layers=a,b"])
    assert (changed.gram_weight, changed.finetune_steps, changed.gram_layers) == (0.3, 7, ("a", "b"))
    assert changed.transform_steps == base.transform_steps
    for bad in ("gram_weight", "no_such_field=1", "finetune_steps=1.5", "synthetic=0", "transform=x"):
        with pytest.raises(ValueError, match="--set"):
            with_overrides(base, [bad])
