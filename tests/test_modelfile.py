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


def test_transform_when_two_sessions_and_previews_alternate_prepares_each_shape_once(any_model: str) -> None:
    # given two sessions' frame shapes, each in batches of 1 to 3 (sessions batched with others),
    # and the gallery previews
    runner = InterpreterTransform(find_model_set(any_model).load_transform(Precision.INT8), threads=1)
    style = np.zeros((3, 100), np.float32)
    shapes = [(n, h, w) for h, w in ((64, 96), (96, 64)) for n in (1, 2, 3)] + [(1, 128, 128)]
    try:
        # when they take turns many times
        for _ in range(3):
            for n, h, w in shapes:
                runner.run(np.zeros((n, h, w, 3), np.float32), style[:n])
        # then each was prepared once: nothing was evicted and prepared again
        assert runner.prepared == len(shapes)
    finally:
        runner.close()


def test_model_set_when_a_file_does_not_match_its_manifest_checksum_refuses_it(
        any_model: str, tmp_path: Path) -> None:
    import dataclasses

    model_set = find_model_set(any_model)
    tampered = dataclasses.replace(model_set, sha256={
        model_set.transform_path(Precision.INT8).name: "0" * 64,
        **({model_set.predictor.name: "1" * 64} if model_set.predictor else {})})
    with pytest.raises(ModelError, match="corrupt"):
        tampered.load_transform(Precision.INT8)
    if model_set.predictor is not None:
        with pytest.raises(ModelError, match="corrupt"):
            tampered.load_predictor()
        assert tampered.predictor_sha256() == "1" * 64  # the manifest's figure is the cache key
