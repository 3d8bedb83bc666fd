"""Steadiness of stylizers on video: warping error on the shared clips and flicker on noisy stills.

Sampling (to keep the full evaluation within minutes on 2 cores): each clip is read at a
processing short side of :data:`VIDEO_SHORT_SIDE` px (the engine's default), as
:data:`SEGMENTS` runs of :data:`SEGMENT_LENGTH` consecutive frames spread evenly over the clip
(the motion between consecutive frames is the clip's own); each run is stylized with each of
:data:`VIDEO_STYLES`. The flicker test stylizes :data:`STILL_FRAMES` noisy copies of each still
photo given. Metrics: :mod:`models.video_metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from models import clips, video_metrics
from models.stylizers import Stylizer

log = logging.getLogger(__name__)

VIDEO_STYLES = ("pd_starry_night.jpg", "pd_wave_crop.jpg", "tfexample_style16.jpg", "magenta_towers_1916_sq.jpg")
VIDEO_SHORT_SIDE = 384
SEGMENTS, SEGMENT_LENGTH = 3, 8
STILL_FRAMES = 8
NOISE_SIGMA = 3 / 255

Scores = dict[str, float]


def warping(
    stylizers: Mapping[str, Stylizer],
    embeddings: Mapping[str, np.ndarray],
    clip_names: Sequence[str] = clips.CLIPS,
    segments: int = SEGMENTS,
    length: int = SEGMENT_LENGTH,
    short_side: int = VIDEO_SHORT_SIDE,
) -> dict[str, dict[str, dict[str, Scores]]]:
    """``[clip][stylizer][style]`` -> ``error``, ``texture``, ``per_texture``, ``valid`` (fraction
    of pixels not occluded), over all runs of the clip (pairs weighted equally)."""
    result: dict[str, dict[str, dict[str, Scores]]] = {}
    for clip in clip_names:
        runs = clips.read_segments(clips.clip_path(clip), short_side, segments, length)
        motion = [video_metrics.content_pairs(run) for run in runs]
        result[clip] = {name: {} for name in stylizers}
        for style, embedding in embeddings.items():
            for name, stylize in stylizers.items():
                scores = [
                    video_metrics.warping_error([stylize(frame, embedding) for frame in run], pairs)
                    for run, pairs in zip(runs, motion, strict=True)
                ]
                error = float(np.mean([s.error for s in scores]))
                texture = float(np.mean([s.texture for s in scores]))
                result[clip][name][style] = {
                    "error": error,
                    "texture": texture,
                    "per_texture": error / texture,
                    "valid": float(np.mean([s.valid_fraction for s in scores])),
                }
        log.info("warping error: %s done", clip)
    return result


def flicker(
    stylizers: Mapping[str, Stylizer],
    embeddings: Mapping[str, np.ndarray],
    stills: Sequence[np.ndarray],
    frames: int = STILL_FRAMES,
    sigma: float = NOISE_SIGMA,
) -> dict[str, Scores]:
    """``[stylizer][style]`` -> flicker amplification (output change over input change, summed
    over the stills) on ``frames`` copies of each still with Gaussian noise ``sigma``."""
    sequences = [video_metrics.noisy_stills(still, frames, sigma, seed=i) for i, still in enumerate(stills)]
    input_change = float(np.mean([video_metrics.mean_change(s) for s in sequences]))
    result: dict[str, Scores] = {name: {} for name in stylizers}
    for style, embedding in embeddings.items():
        for name, stylize in stylizers.items():
            output_change = np.mean([video_metrics.mean_change([stylize(f, embedding) for f in s]) for s in sequences])
            result[name][style] = float(output_change) / input_change
    return result


def relative(
    scores: Mapping[str, Mapping[str, float]], reference: str = "magenta_fp16"
) -> dict[str, dict[str, float]]:
    """Per stylizer: ``mean`` over styles of its score, and over styles of its score divided by
    the reference's: ``ratio_mean`` and ``ratio_worst`` (largest)."""
    base = scores[reference]
    out = {}
    for name, row in scores.items():
        ratios = [value / base[style] for style, value in row.items()]
        out[name] = {
            "mean": float(np.mean(list(row.values()))),
            "ratio_mean": float(np.mean(ratios)),
            "ratio_worst": float(np.max(ratios)),
        }
    return out
