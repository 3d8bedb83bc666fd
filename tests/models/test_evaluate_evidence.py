"""Clips, contact sheets with flat-area crops, the side-by-side clip and the steadiness tables of
the evaluation (models/clips.py, models/sheets.py, models/steadiness.py), with stand-in stylizers
whose effect is known. No TensorFlow here."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from models import clips, evaluate, sheets, steadiness
from models.imaging import to_float, to_uint8


def _bar_clip(path: Path, frames: int, height: int = 96, width: int = 128) -> None:
    """Frame i: a white vertical bar at x = 4 i on black (the bar's position tells the index)."""
    images = []
    for index in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        image[:, 4 * index : 4 * index + 8] = 255
        images.append(image)
    clips.write_h264(path, images, fps=10, bit_rate=500_000)


def _bar_position(frame: np.ndarray) -> int:
    column = frame.mean(axis=(0, 2))
    return int(np.flatnonzero(column > 0.5)[0])


def test_write_h264_when_frames_given_then_h264_of_that_size_and_count(tmp_path: Path) -> None:
    path = tmp_path / "bars.mp4"
    _bar_clip(path, 12)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 128, 96)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 12
    assert [_bar_position(to_float(f)) for f in decoded] == [4 * i for i in range(12)]
    assert not list(tmp_path.glob(".*partial"))


def test_write_h264_when_odd_size_then_value_error_and_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        clips.write_h264(tmp_path / "odd.mp4", [np.zeros((31, 32, 3), np.uint8)], fps=10, bit_rate=100_000)
    assert list(tmp_path.iterdir()) == []


def test_segment_starts_when_clip_long_then_runs_spread_to_both_ends() -> None:
    assert clips.segment_starts(100, 3, 8) == [0, 46, 92]
    assert clips.segment_starts(20, 3, 8) == [0, 12]  # room for two runs only
    with pytest.raises(ValueError, match="fewer"):
        clips.segment_starts(5, 3, 8)


def test_read_segments_when_clip_written_then_consecutive_frames_at_processing_size(tmp_path: Path) -> None:
    path = tmp_path / "bars.mp4"
    _bar_clip(path, 24)
    runs = clips.read_segments(path, short_side=48, segments=2, length=4)
    assert [len(run) for run in runs] == [4, 4]
    assert runs[0][0].shape == (48, 64, 3)
    # at half size the bar moves 2 px per frame; runs start at frames 0 and 20
    assert [[_bar_position(f) for f in run] for run in runs] == [[0, 2, 4, 6], [40, 42, 44, 46]]


def test_flattest_window_when_image_has_one_flat_square_then_found() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((96, 128, 3)).astype(np.float32)
    image[40:72, 64:96] = 0.4
    assert sheets.flattest_window(image, 32) == (40, 64)
    with pytest.raises(ValueError, match="larger"):
        sheets.flattest_window(image, 100)


def test_contact_sheet_when_written_then_thumbnails_and_1to1_crops_of_the_flat_area(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    contents = []
    for corner in ((0, 0), (200, 160)):
        image = rng.random((384, 384, 3)).astype(np.float32)
        image[corner[0] : corner[0] + 160, corner[1] : corner[1] + 160] = 0.7
        contents.append(image)
    columns = {"identity": lambda c, e: c, "inverted": lambda c, e: 1 - c}
    path = tmp_path / "sheet.jpg"
    sheets.contact_sheet(path, "test", to_uint8(contents[0]), contents, columns, {"identity": None, "inverted": None})
    sheet = to_float(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    tile, label = sheets.TILE, sheets.LABEL_HEIGHT
    assert sheet.shape == (2 * label + 2 * 2 * tile, 3 * tile, 3)
    for row, value in ((0, 0.7), (1, 0.7)):
        crops = sheet[2 * label + (2 * row + 1) * tile :][:tile]
        # 1:1 crops of the flat window: content and identity flat at 0.7, inverted at 0.3
        assert np.abs(crops[8:-8, 8 : tile - 8] - value).mean() < 0.03
        assert np.abs(crops[8:-8, tile + 8 : 2 * tile - 8] - value).mean() < 0.03
        assert np.abs(crops[8:-8, 2 * tile + 8 : -8] - (1 - value)).mean() < 0.03


def test_side_by_side_when_shared_clip_then_small_h264_with_one_panel_per_stylizer(
    shared_data: Path, tmp_path: Path
) -> None:
    path = tmp_path / "side.mp4"
    stylizers = {"inverted": lambda c, e: 1 - c, "grey": lambda c, e: np.repeat(c.mean(-1, keepdims=True), 3, -1)}
    sheets.side_by_side(path, "realshort.mp4", stylizers, np.zeros(100), seconds=0.5, short_side=64)
    assert path.stat().st_size < 1_500_000
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert stream.codec_context.name == "h264"
    assert len(frames) == 15  # 0.5 s at 30 fps
    assert frames[0].shape == (64 + sheets.LABEL_HEIGHT, 3 * 88, 3)  # 320x240 -> 88x64 per panel
    content, inverted = (to_float(frames[5][sheets.LABEL_HEIGHT :, i * 88 : (i + 1) * 88]) for i in (0, 1))
    assert np.abs(content + inverted - 1).mean() < 0.05


def test_steadiness_when_one_stylizer_flickers_then_tables_show_it(shared_data: Path) -> None:
    """On a real clip: a per-pixel stylizer vs one that adds noise every frame."""
    rng = np.random.default_rng(2)

    def noisy(content: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return np.clip(content + rng.normal(0, 0.05, content.shape), 0, 1).astype(np.float32)

    stylizers = {"magenta_fp16": lambda c, e: np.sqrt(c), "noisy": noisy}
    embeddings = {"a.jpg": np.zeros(100)}
    warping = steadiness.warping(stylizers, embeddings, ["realshort.mp4"], segments=1, length=4, short_side=128)
    row = warping["realshort.mp4"]
    assert row["noisy"]["a.jpg"]["per_texture"] > 5 * row["magenta_fp16"]["a.jpg"]["per_texture"]
    stills = [np.full((64, 64, 3), 0.5, np.float32)]
    flicker = steadiness.flicker(stylizers, embeddings, stills, frames=4)
    assert flicker["noisy"]["a.jpg"] == pytest.approx(0.05 / (3 / 255), rel=0.1)
    sampling = {"short_side": 128, "segments": 1, "segment_length": 4, "styles": ["a.jpg"], "stills": 1,
                "still_frames": 4, "noise_sigma": 3 / 255}
    table = "\n".join(evaluate.steadiness_md({"sampling": sampling, "warping": warping, "flicker": flicker}))
    assert "| realshort.mp4 | noisy |" in table
    assert "| magenta_fp16 | " in table and "| 1.00 / 1.00 |" in table
