"""The training code end to end on the tiny configuration (generated images, stand-in teacher)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training needs the 'train' extra (tensorflow)")

from models import data  # noqa: E402
from models.config import CONFIGS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")  # TensorFlow/Keras emit assorted warnings


def test_tiny_run_when_trained_then_writes_weights_and_exports(tmp_path: Path) -> None:
    from models import export, train
    from models.litert import Predictor, Transform

    # given / when
    train.main(["--config", "tiny", "--work", str(tmp_path)])
    work = tmp_path / "tiny"
    # then
    assert (work / "transform.weights.h5").exists() and (work / "predictor.weights.h5").exists()
    exported = export.export_models(CONFIGS["tiny"], work, work / "export")
    transform = Transform(exported["transform_int8"])
    output = transform(
        np.random.default_rng(0).random((2, 40, 24, 3), np.float32), np.zeros((2, 1, 1, 100), np.float32)
    )
    assert output.shape == (2, 40, 24, 3)
    embedding = Predictor(exported["predictor_fp16"])(np.zeros((256, 256, 3), np.float32))
    assert embedding.shape == (1, 1, 1, 100)


def test_tiny_run_when_restarted_then_resumes_from_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from models import train

    caplog.set_level(logging.INFO, logger="models.train")
    train.main(["--config", "tiny", "--work", str(tmp_path), "--only", "transform"])
    caplog.clear()
    train.main(["--config", "tiny", "--work", str(tmp_path), "--only", "transform"])
    assert any("resumed at step" in message for message in caplog.messages)


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
