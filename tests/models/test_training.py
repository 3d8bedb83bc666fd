"""The training data (teacher targets, style sources, procedural styles) and configuration.

What needs TensorFlow (networks, losses, tiny training runs) is in ``tensorflow_checks.py``,
run by ``test_tensorflow.py`` in child processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import data, procedural
from models.config import CONFIGS, with_overrides
from models.imaging import style_input


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
    changed = with_overrides(
        base, ["gram_weight=0.3", "finetune_steps=7", "gram_layers=a,b", "finetune_decoder_blocks=1,2"]
    )
    assert (changed.gram_weight, changed.finetune_steps, changed.gram_layers) == (0.3, 7, ("a", "b"))
    assert changed.finetune_decoder_blocks == (1, 2)
    assert changed.transform_steps == base.transform_steps
    for bad in (
        "gram_weight",
        "no_such_field=1",
        "finetune_steps=1.5",
        "synthetic=0",
        "transform=x",
        "finetune_decoder_blocks=1,x",
    ):
        with pytest.raises(ValueError, match="--set"):
            with_overrides(base, [bad])


def test_transform_set_when_built_then_each_embedding_is_the_teachers_of_its_style_image(tmp_path: Path) -> None:
    # given: the tiny transform set (generated images, stand-in teacher)
    config = CONFIGS["tiny"]
    sources = data.synthetic_sources(config.seed)
    data.build_transform_set(sources, config, tmp_path)
    arrays = data.open_set(tmp_path)
    # then: a sample with a style image is conditioned on the teacher's embedding of that image
    with_style = np.flatnonzero(arrays["has_style"])
    assert 0 < len(with_style) < len(arrays["has_style"])  # the tiny set also has embedding mixes
    for i in with_style:
        expected = sources.teacher.embed(arrays["style"][i].astype(np.float32) / 255)
        np.testing.assert_allclose(arrays["embedding"][i], expected, atol=1e-5)
    # and: its target is the teacher's stylization with that embedding
    assert arrays["target"].std() > 0


def test_draw_style_when_drawn_many_times_then_every_kind_appears_and_held_out_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = data.synthetic_sources(0)
    seen: list[str] = []
    original = data.procedural.style_image
    monkeypatch.setattr(
        data.procedural, "style_image", lambda seed, size: seen.append("procedural") or original(seed, size)
    )
    rng = np.random.default_rng(0)
    images = [data.draw_style(sources, rng) for _ in range(200)]
    assert seen  # procedural styles are drawn
    assert all(image.dtype == np.uint8 and image.ndim == 3 and min(image.shape[:2]) >= 16 for image in images)
    # distinct images: crops, procedural seeds, mixes
    assert len({style_input(image).tobytes() for image in images}) > 150


def test_training_styles_when_listed_then_exclude_the_held_out_ones(shared_data: Path) -> None:
    from models import catalogue

    training = set(catalogue.training_styles())
    assert training and not training & set(catalogue.HELD_OUT_STYLES)
    assert all(path.parent.name == "styles_extra" for path in catalogue.extra_styles())


def test_procedural_style_when_regenerated_from_its_seed_then_identical_and_seeds_differ() -> None:
    first = procedural.style_image(7, 96)
    np.testing.assert_array_equal(first, procedural.style_image(7, 96))
    others = [procedural.style_image(seed, 96) for seed in range(8, 40)]
    assert first.shape == (96, 96, 3) and first.dtype == np.uint8
    assert min(np.abs(first.astype(int) - other).mean() for other in others) > 1.0
    # variety: palettes and contrast differ from one seed to the next
    assert np.std([image.mean() for image in others]) > 10 and np.std([image.std() for image in others]) > 5


@pytest.mark.parametrize("name", sorted(procedural.GENERATORS))
def test_procedural_generator_when_run_then_valid_image_with_structure(name: str) -> None:
    image = procedural.GENERATORS[name](np.random.default_rng(3), 128)
    assert image.shape == (128, 128, 3)
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.01


def test_style_kinds_when_replayed_then_the_kinds_the_build_drew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the tiny transform set, built while recording each run's first style draw
    config = CONFIGS["tiny"]
    sources = data.synthetic_sources(config.seed)
    drawn: list[str] = []
    original = data._draw_kind

    def recording(rng: np.random.Generator, allow_mix: bool = True) -> str:
        kind = original(rng, allow_mix)
        if allow_mix:  # a run's own draw, not one half of a style mix
            drawn.append(kind)
        return kind

    monkeypatch.setattr(data, "_draw_kind", recording)
    data.build_transform_set(sources, config, tmp_path)
    monkeypatch.undo()
    arrays = data.open_set(tmp_path)
    # when
    kinds = data.style_kinds(sources.content, config, len(arrays["has_style"]))
    # then: embedding mixes are the samples without a style image; every other run drew its kind
    np.testing.assert_array_equal(kinds != "embedding_mix", arrays["has_style"] == 1)
    expected = iter(drawn)
    for kind in kinds[:: config.crops_per_run]:
        if kind == "embedding_mix":  # two styles drawn, their embeddings mixed
            next(expected), next(expected)
        else:
            assert next(expected) == kind
    assert next(expected, None) is None
    assert len(set(kinds)) >= 3


def test_kept_samples_when_kinds_given_then_only_those_and_unknown_refused() -> None:
    config = with_overrides(CONFIGS["tiny"], ["transform_runs=40", "train_kinds=procedural,photo"])
    kinds = data.style_kinds(data.synthetic_sources(config.seed).content, config, 80)
    kept = data.kept_samples(config, 80)
    assert set(kinds[kept]) == {"procedural", "photo"}
    assert len(kept) == int(np.isin(kinds, ["procedural", "photo"]).sum())
    np.testing.assert_array_equal(data.kept_samples(CONFIGS["tiny"], 80), np.arange(80))
    with pytest.raises(ValueError, match="unknown kind paintings"):
        data.kept_samples(with_overrides(config, ["train_kinds=paintings"]), 80)
