"""Training configurations: ``full`` (the release) and ``tiny`` (tests, seconds)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from models.paths import WORK_DIR

EMBEDDING_DIM = 100
SIZE_MULTIPLE = 8

# Layers of the fine-tune stage's Gram (texture statistics) term, in the float copy of the
# evaluation backbone (models/feature_net.py). Deliberately not the four layers of the
# evaluation's style distance (expanded_conv_1/expand, _2/add, _5/add, _9/add), though from the
# same network and depth range.
GRAM_LAYERS: tuple[str, ...] = (
    "MobilenetV2/Conv/Relu6",
    "MobilenetV2/expanded_conv_2/expand/Relu6",
    "MobilenetV2/expanded_conv_4/add",
    "MobilenetV2/expanded_conv_7/add",
)


@dataclass(frozen=True)
class TransformSpec:
    """Widths at 1/2, 1/4 and 1/8 resolution, residual blocks at 1/8, FiLM trunk width."""

    widths: tuple[int, int, int] = (16, 32, 64)
    blocks: int = 5
    film_hidden: int = 128
    # Residual blocks in the decoder at 1/4 and 1/2 resolution (fine texture), see architecture.py.
    decoder_blocks: tuple[int, int] = (0, 0)
    # Channels of the decoder's stage at full resolution (after the last upsampling).
    full_width: int = 8
    # The last 2x step: "upsample" (nearest + filter, then a stage of ``full_width`` channels at
    # full resolution) or "shuffle" (a sub-pixel head at 1/2 resolution, 2 x ``full_width``
    # channels, then ``depth_to_space``: each output pixel of a 2x2 cell has its own filter, so
    # fine strokes are cheaper to draw; its only possible fixed period is 2 px).
    output: str = "upsample"


@dataclass(frozen=True)
class PredictorSpec:
    """Widths of the four stride-2 stages (128, 64, 32, 16 px for a 256 input) and head width."""

    widths: tuple[int, int, int, int] = (24, 48, 96, 192)
    head: int = 256


@dataclass(frozen=True)
class Config:
    """Everything that determines a training run (data, networks, schedule)."""

    name: str
    # Generated images and a stand-in teacher instead of the shared data (tests).
    synthetic: bool = False
    seed: int = 1234
    # Teacher targets for the transform: one teacher run per content photo, on a random 4:3 window
    # at a random short side (multiple of 32); ``crops_per_run`` random ``crop``-pixel crops kept.
    transform_runs: int = 2500
    crops_per_run: int = 2
    crop: int = 256
    short_sides: tuple[int, int] = (256, 448)
    # Each run's conditioning is a style image drawn from models/data.py:STYLE_KINDS (paintings,
    # extra styles, procedural styles, photos, mixes), embedded by the teacher.
    predictor_samples: int = 24000
    transform: TransformSpec = field(default_factory=TransformSpec)
    predictor: PredictorSpec = field(default_factory=PredictorSpec)
    transform_steps: int = 20000
    transform_batch: int = 8
    train_crop: int = 160
    gradient_weight: float = 0.5
    predictor_steps: int = 6000
    predictor_batch: int = 32
    learning_rate: float = 2e-3
    checkpoint_every: int = 500
    # Fine-tune stage (after the transform run, from its weights): L1 + gradient loss as above
    # plus ``gram_weight`` x the relative Gram-matrix distance of the output to the teacher output
    # on ``gram_layers`` of the float MobileNetV2 copy, the crops scaled by ``gram_scale`` first
    # (the evaluation looks at 384x384 frames at 224x224). 0 steps: no fine-tune stage.
    finetune_steps: int = 0
    finetune_learning_rate: float = 5e-4
    gram_weight: float = 0.0
    gram_layers: tuple[str, ...] = GRAM_LAYERS
    gram_scale: float = 224 / 384
    # ``style_weight`` x the relative Gram distance to the style image behind the sample's
    # conditioning (every kind but embedding mixes keeps its style image; see models/data.py).
    style_weight: float = 0.0
    # Random extra scale (fraction) and offset of the feature net's view each step; 0: fixed view.
    gram_jitter: float = 0.0
    # Decoder residual blocks (1/4, 1/2 resolution) added for the fine-tune stage; they start as
    # the identity, so the stage begins from the trained transform's function.
    finetune_decoder_blocks: tuple[int, int] = (0, 0)
    # Train the transform (either stage) only on samples whose style is of these kinds
    # (models/data.py:STYLE_KINDS or "embedding_mix"); empty: all samples.
    train_kinds: tuple[str, ...] = ()
    # The fine-tune stage's last 2x step (TransformSpec.output); "": the distillation's. A
    # "shuffle" head starts from the trained "upsample" head (architecture.copy_weights).
    finetune_output: str = ""
    # Temporal stability from stills (models/temporal.py): each crop also goes in moved and noisy;
    # weight of the L1 between that output and the moved output of the clean crop. 0: off.
    temporal_weight: float = 0.0
    # ``colour_weight`` x the sliced Wasserstein distance of the output's pixel colours to the
    # teacher output's, per crop (models/losses.py:colour_distance). 0: off.
    colour_weight: float = 0.0


CONFIGS: dict[str, Config] = {
    # The release: distillation (transform stage), then the fine-tune stage with texture terms
    # toward the teacher's output (0.3) and the style image (0.5); experiments behind these
    # values are in models/MODEL_CARD.md.
    "full": Config(
        "full",
        transform_steps=7000,
        predictor_steps=3000,
        temporal_weight=0.2,
        finetune_steps=2500,
        finetune_learning_rate=1.5e-3,
        gram_weight=0.3,
        style_weight=0.5,
        gram_jitter=0.15,
    ),
    "tiny": Config(
        "tiny",
        synthetic=True,
        transform_runs=6,
        crops_per_run=2,
        crop=64,
        short_sides=(64, 96),
        predictor_samples=16,
        transform=TransformSpec(widths=(8, 8, 16), blocks=1, film_hidden=16),
        predictor=PredictorSpec(widths=(8, 8, 16, 16), head=16),
        transform_steps=4,
        transform_batch=2,
        train_crop=48,
        predictor_steps=4,
        predictor_batch=4,
        checkpoint_every=2,
        finetune_steps=4,
        gram_weight=0.1,
        style_weight=0.1,
        gram_jitter=0.1,
        finetune_decoder_blocks=(1, 1),
        temporal_weight=1.0,
    ),
}


def transform_spec(config: Config, part: str = "transform") -> TransformSpec:
    """The transform network of a trained ``part``: the fine-tune stage may add decoder blocks."""
    if part == "transform":
        return config.transform
    return dataclasses.replace(
        config.transform,
        decoder_blocks=config.finetune_decoder_blocks,
        output=config.finetune_output or config.transform.output,
    )


def work_dir(config: Config, root: Path | None = None) -> Path:
    """Directory of the generated data, checkpoints and exports of a configuration."""
    return (root or WORK_DIR) / config.name


def with_overrides(config: Config, assignments: list[str]) -> Config:
    """``config`` with ``key=value`` fields replaced: numbers, strings, comma-separated tuples.

    Raises ValueError (one line) for a malformed assignment, an unknown or nested field, or a
    value of the wrong type.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, object] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"--set {assignment!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        current = getattr(config, key)
        if isinstance(current, tuple):
            kind = type(current[0]) if current else str
            try:
                changes[key] = tuple(kind(item) for item in value.split(","))
            except ValueError:
                raise ValueError(f"--set {key}: expected comma-separated {kind.__name__}s, got {value!r}") from None
        elif isinstance(current, (int, float, str)) and not isinstance(current, bool):
            try:
                changes[key] = type(current)(value)
            except ValueError:
                raise ValueError(f"--set {key}: expected a {type(current).__name__}, got {value!r}") from None
        else:
            raise ValueError(f"--set {key}: this field cannot be set from the command line")
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]  # checked above

