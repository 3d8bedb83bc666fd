"""Model files: validation errors, shapes, and the constant-resize rewrite for any resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.config import Precision
from streamer.errors import ModelError
from streamer.inference.catalog import find_model_set
from streamer.inference.modelfile import ModelFile, PredictorModel, TransformModel
from streamer.inference.runners import InterpreterTransform


def test_load_when_file_missing_says_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        ModelFile.load(tmp_path / "nope.tflite")


def test_load_when_file_is_not_tflite_says_so(tmp_path: Path) -> None:
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a TFLite model"):
        ModelFile.load(bogus)


def test_load_when_tflite_is_truncated_says_it_cannot_load(tmp_path: Path, any_model: str) -> None:
    source = find_model_set(any_model).transform_path(Precision.INT8).read_bytes()
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(source[: len(source) // 3])
    with pytest.raises(ModelError):
        TransformModel.load(broken, Precision.INT8)


def test_load_when_checksum_differs_says_corrupt(any_model: str) -> None:
    path = find_model_set(any_model).transform_path(Precision.INT8)
    with pytest.raises(ModelError, match="corrupt"):
        ModelFile.load(path, expected_sha256="0" * 64)


def test_roles_when_swapped_are_refused(any_model: str) -> None:
    model_set = find_model_set(any_model)
    assert model_set.predictor is not None
    with pytest.raises(ModelError, match="not a style transform"):
        TransformModel.load(model_set.predictor, Precision.INT8)
    with pytest.raises(ModelError, match="not a style predictor"):
        PredictorModel.load(model_set.transform_path(Precision.INT8))


def test_unknown_model_name_lists_available_ones() -> None:
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        find_model_set("nope")


def test_magenta_transform_when_shape_differs_produces_true_size(magenta: str) -> None:
    # given: Magenta's decoder resizes to constant 192/384 sizes
    model = TransformModel.load(find_model_set(magenta).transform_path(Precision.INT8), Precision.INT8)
    assert model.has_constant_resizes and model.native_shape == (384, 384)
    runner = InterpreterTransform(model, threads=2)
    content = np.random.default_rng(0).random((1, 96, 160, 3), dtype=np.float32)
    style = np.random.default_rng(1).random((1, 100), dtype=np.float32)
    # when
    out = runner.run(content, style)
    runner.close()
    # then: a real 96x160 output (not a squashed 384x384 one)
    assert out.shape == (1, 96, 160, 3)
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_transform_batch_matches_single_runs(any_model: str) -> None:
    model = TransformModel.load(find_model_set(any_model).transform_path(Precision.INT8), Precision.INT8)
    runner = InterpreterTransform(model, threads=2)
    rng = np.random.default_rng(2)
    content = rng.random((2, 64, 64, 3), dtype=np.float32)
    styles = rng.random((2, 100), dtype=np.float32)
    batched = runner.run(content, styles)
    single = np.concatenate([runner.run(content[i:i + 1], styles[i:i + 1]) for i in range(2)])
    runner.close()
    assert np.abs(batched - single).max() < 1e-5
