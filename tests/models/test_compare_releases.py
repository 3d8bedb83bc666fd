"""models/compare_releases.py: two releases side by side against Magenta (needs the shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import compare_releases


def test_quality_when_both_releases_are_the_same_then_rows_agree_and_own_predictor_differs(
    shared_data: Path, release: Path, tmp_path: Path
) -> None:
    # The old release's own predictor goes through the embedding table, the new one's through the
    # evaluation's "ours" path: the same release on both sides must give the same figures.
    out = tmp_path / "quality.json"
    compare_releases.main(["quality", "--old", str(release), "--new", str(release), "--contents", "1",
                           "--styles", "2", "--out", str(out)])
    by_style = json.loads(out.read_text())["quality_by_style"]
    assert len(by_style["magenta_fp16"]) == 2
    for kind in ("int8", "fp16", "int8+own_predictor"):
        for style, row in by_style[f"old_{kind}"].items():
            assert row == pytest.approx(by_style[f"new_{kind}"][style], rel=1e-6), (kind, style)
    own, teacher = by_style["new_int8+own_predictor"], by_style["new_int8"]
    assert any(own[s]["style"] != teacher[s]["style"] for s in own)


def test_quality_when_asked_for_training_styles_then_measures_the_built_in_ones(
    shared_data: Path, release: Path, tmp_path: Path
) -> None:
    from models import catalogue

    out = tmp_path / "quality.json"
    compare_releases.main(["quality", "--new", str(release), "--contents", "1", "--styles", "1",
                           "--training-styles", "--out", str(out)])
    (style,) = json.loads(out.read_text())["quality_by_style"]["magenta_fp16"]
    assert style == catalogue.BUILTIN_STYLES[0].source
    assert style not in catalogue.HELD_OUT_STYLES


def test_main_when_quantization_without_fp32_then_exits_with_usage_error(release: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare_releases.main(["quantization", "--new", str(release)])
    assert exit_info.value.code == 2
