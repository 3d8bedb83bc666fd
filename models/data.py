"""Teacher targets: the training sets for the transform and the predictor, cached on disk.

Each set is a few memory-mapped ``.npy`` arrays in a directory under ``models/work``. Sample
``i`` is generated from its own random stream (``seed``, ``i``), so an interrupted build resumes
where it stopped and produces the same data as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from models import catalogue, procedural
from models.config import Config
from models.imaging import load_rgb, resize, style_input, to_float, to_uint8

log = logging.getLogger(__name__)


class TeacherLike(Protocol):
    """What the data builders need from a teacher (see :class:`models.teacher.Teacher`)."""

    def embed(self, style: np.ndarray) -> np.ndarray: ...

    def stylize(self, content: np.ndarray, embedding: np.ndarray) -> np.ndarray: ...


@dataclass
class Sources:
    """Training images (uint8 RGB) and the teacher that labels them.

    ``styles``: the training paintings; ``extra``: further style images (wallpapers, artwork);
    procedural styles are generated at one of ``procedural_sizes`` (square side) from a seed.
    """

    content: list[np.ndarray]
    styles: list[np.ndarray]
    teacher: TeacherLike
    extra: list[np.ndarray] = field(default_factory=list)
    procedural_sizes: tuple[int, ...] = (256, 320, 384)


def shared_sources() -> Sources:
    """Training photos, training styles and the extra styles of the shared data, Magenta as teacher."""
    from models.teacher import Teacher

    extra = [load_rgb(p) for p in catalogue.extra_styles()]
    return Sources(shared_content(), training_style_images(), Teacher("fp16"), extra)


def shared_content() -> list[np.ndarray]:
    """The training photos of the shared data (uint8 RGB), in :func:`catalogue.content_images` order."""
    return [load_rgb(p) for p in catalogue.content_images("train")]


def training_style_images() -> list[np.ndarray]:
    """The training styles of the shared data (uint8 RGB), in :func:`catalogue.training_styles` order."""
    return [load_rgb(catalogue.style_dir() / name) for name in catalogue.training_styles()]


class SyntheticTeacher:
    """A cheap stand-in teacher for tests: colour statistics in, a per-channel tone curve out."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self._project = rng.normal(size=(6, 100)).astype(np.float32)
        self._read = rng.normal(size=(100, 6)).astype(np.float32) / 10

    def embed(self, style: np.ndarray) -> np.ndarray:
        stats = np.concatenate([style.mean(axis=(0, 1)), style.std(axis=(0, 1))])
        return np.tanh(stats @ self._project)

    def stylize(self, content: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        gain, bias = np.split(embedding.reshape(100) @ self._read, 2)
        return 1.0 / (1.0 + np.exp(-(4.0 * (content - 0.5) * (1 + gain) + bias)))


def synthetic_sources(seed: int = 0, count: int = 4, size: int = 128) -> Sources:
    """A few generated images (gradients, discs, stripes) and the stand-in teacher."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = []
    for _ in range(2 * count):
        image = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * rng.random(3)
        for _ in range(3):
            centre = rng.random(2) * size
            radius = rng.uniform(0.1, 0.3) * size
            cv2.circle(image, (int(centre[0]), int(centre[1])), int(radius), rng.random(3).tolist(), -1)
        image += 0.2 * np.sin(xx[..., None] * rng.uniform(5, 40))
        images.append(to_uint8(np.clip(image, 0, 1)))
    half = count // 2
    teacher = SyntheticTeacher(seed)
    return Sources(images[:count], images[count : count + half], teacher, images[count + half :], (48, 64))


def _random_square(image: np.ndarray, rng: np.random.Generator, min_fraction: float) -> np.ndarray:
    """Random square crop (side a random fraction of the short side), randomly flipped."""
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(min_fraction, 1.0))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = image[top : top + side, left : left + side]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


# Where a training style image comes from (probabilities): the training paintings (whole or a crop,
# sometimes recoloured), the extra wallpapers/artwork, a procedural style (models/procedural.py), a
# training photo, or a mix of two of these (alpha blend or collage).
STYLE_KINDS: dict[str, float] = {"painting": 0.25, "extra": 0.2, "procedural": 0.3, "photo": 0.1, "mix": 0.15}
# Share of transform-set runs conditioned on a mix of two embeddings (no style image behind it).
EMBEDDING_MIX = 0.05


def _draw_kind(rng: np.random.Generator, allow_mix: bool = True) -> str:
    kinds = [k for k in STYLE_KINDS if allow_mix or k != "mix"]
    weights = np.array([STYLE_KINDS[k] for k in kinds])
    return kinds[rng.choice(len(kinds), p=weights / weights.sum())]


def draw_style(sources: Sources, rng: np.random.Generator, allow_mix: bool = True) -> np.ndarray:
    """One style image (uint8 RGB, any size) from :data:`STYLE_KINDS`."""
    kind = _draw_kind(rng, allow_mix)
    if kind in ("painting", "extra"):
        images = sources.styles if kind == "painting" or not sources.extra else sources.extra
        image = images[rng.integers(len(images))]
        if rng.random() < 0.65:
            image = _random_square(image, rng, 0.3)
        return _recolour(np.ascontiguousarray(image), rng) if rng.random() < 0.15 else image
    if kind == "procedural":
        return procedural.style_image(int(rng.integers(2**31)), int(rng.choice(sources.procedural_sizes)))
    if kind == "photo":
        return _random_square(sources.content[rng.integers(len(sources.content))], rng, 0.5)
    first = style_input(draw_style(sources, rng, allow_mix=False))
    second = style_input(draw_style(sources, rng, allow_mix=False))
    if rng.random() < 0.5:  # alpha blend
        weight = rng.uniform(0.3, 0.7)
        return to_uint8(weight * first + (1 - weight) * second)
    # collage: a soft random split
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) / 256 - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    mask = np.clip((xx * np.cos(angle) + yy * np.sin(angle) - rng.uniform(-0.2, 0.2)) * 40 + 0.5, 0, 1)[..., None]
    return to_uint8(mask * first + (1 - mask) * second)


class ArraySet:
    """A directory of same-length memory-mapped arrays filled sample by sample (resumable)."""

    def __init__(self, directory: Path, shapes: dict[str, tuple[tuple[int, ...], str]]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.arrays = {
            name: np.lib.format.open_memmap(
                directory / f"{name}.npy",
                mode="r+" if (directory / f"{name}.npy").exists() else "w+",
                dtype=dtype,
                shape=shape,
            )
            for name, (shape, dtype) in shapes.items()
        }
        self._progress = directory / "progress.json"

    @property
    def done(self) -> int:
        """Number of samples written so far."""
        if not self._progress.exists():
            return 0
        return int(json.loads(self._progress.read_text())["done"])

    def fill(self, total: int, make: Callable[[int], dict[str, np.ndarray]], step: int) -> None:
        """Call ``make(i)`` for each missing sample index (each writes ``step`` rows)."""
        for index in range(self.done // step, total // step):
            rows = make(index)
            for name, value in rows.items():
                self.arrays[name][index * step : (index + 1) * step] = value
            if index % 50 == 49 or index == total // step - 1:
                for array in self.arrays.values():
                    array.flush()
                self._progress.write_text(json.dumps({"done": (index + 1) * step}))
                log.info("%s: %d/%d", self.directory.name, (index + 1) * step, total)


def open_set(directory: Path, count: int | None = None) -> dict[str, np.ndarray]:
    """Open a finished set read-only: its first ``count`` samples (default: all written)."""
    progress = json.loads((directory / "progress.json").read_text())["done"]
    if count is not None:
        if progress < count:
            raise ValueError(f"{directory} has {progress} of {count} samples")
        progress = count
    arrays = {p.stem: np.load(p, mmap_mode="r") for p in directory.glob("*.npy")}
    return {name: array[:progress] for name, array in arrays.items()}


def build_transform_set(sources: Sources, config: Config, directory: Path) -> None:
    """Teacher stylizations of training photos: ``content``, ``target`` uint8, ``embedding``, and the
    style image behind the embedding (``style``, uint8 256x256 as the teacher's predictor saw it;
    ``has_style`` 0 for the few runs conditioned on a mix of two embeddings, which have none)."""
    total = config.transform_runs * config.crops_per_run
    crop = config.crop
    shapes = {
        "content": ((total, crop, crop, 3), "uint8"),
        "target": ((total, crop, crop, 3), "uint8"),
        "embedding": ((total, 100), "float32"),
        "style": ((total, 256, 256, 3), "uint8"),
        "has_style": ((total,), "uint8"),
    }

    def make(run: int) -> dict[str, np.ndarray]:
        rng, image = _run_start(sources.content, config, run)
        if rng.random() < EMBEDDING_MIX:
            first, second = (sources.teacher.embed(style_input(draw_style(sources, rng))) for _ in range(2))
            weight = rng.uniform(0.2, 0.8)
            embedding = (weight * first + (1 - weight) * second).astype(np.float32)
            style, has_style = np.zeros((256, 256, 3), np.uint8), 0
        else:
            style = to_uint8(style_input(draw_style(sources, rng)))
            embedding, has_style = sources.teacher.embed(to_float(style)).astype(np.float32), 1
        stylized = sources.teacher.stylize(image, embedding)
        h, w = image.shape[:2]
        tops = rng.integers(0, h - crop + 1, size=config.crops_per_run)
        lefts = rng.integers(0, w - crop + 1, size=config.crops_per_run)
        windows = [(slice(t, t + crop), slice(x, x + crop)) for t, x in zip(tops, lefts, strict=True)]
        repeat = config.crops_per_run
        return {
            "content": np.stack([to_uint8(image[win]) for win in windows]),
            "target": np.stack([to_uint8(stylized[win]) for win in windows]),
            "embedding": np.repeat(embedding[None], repeat, axis=0),
            "style": np.repeat(style[None], repeat, axis=0),
            "has_style": np.full(repeat, has_style, np.uint8),
        }

    ArraySet(directory, shapes).fill(total, make, config.crops_per_run)


def _run_start(photos: list[np.ndarray], config: Config, run: int) -> tuple[np.random.Generator, np.ndarray]:
    """A transform-set run's random stream and its content window (float), as the build draws them."""
    rng = np.random.default_rng([config.seed, 11, run])
    photo = photos[rng.integers(len(photos))]
    low, high = config.short_sides
    short = int(rng.integers(low // 32, high // 32 + 1)) * 32
    return rng, to_float(_canvas(photo, max(short, config.crop), rng))


def style_kinds(photos: list[np.ndarray], config: Config, count: int) -> np.ndarray:
    """The kind of style (:data:`STYLE_KINDS`, or ``"embedding_mix"``) behind each of the first
    ``count`` samples of the transform set built from the training ``photos``, replayed from the
    runs' random streams (no teacher)."""
    kinds = []
    for run in range(-(-count // config.crops_per_run)):
        rng, _ = _run_start(photos, config, run)
        kind = "embedding_mix" if rng.random() < EMBEDDING_MIX else _draw_kind(rng)
        kinds += [kind] * config.crops_per_run
    return np.array(kinds[:count])


def check_train_kinds(config: Config) -> None:
    """Raise ValueError (one line) when ``config.train_kinds`` names a kind of style that no sample has."""
    known = {*STYLE_KINDS, "embedding_mix"}
    if unknown := sorted(set(config.train_kinds) - known):
        raise ValueError(f"train_kinds: unknown kind {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def kept_samples(config: Config, count: int) -> np.ndarray:
    """Indices of the transform-set samples training may draw: all, or those whose style is one of
    ``config.train_kinds`` (replayed, :func:`style_kinds`)."""
    if not config.train_kinds:
        return np.arange(count)
    check_train_kinds(config)
    photos = synthetic_sources(config.seed).content if config.synthetic else shared_content()
    kept = np.flatnonzero(np.isin(style_kinds(photos, config, count), config.train_kinds))
    log.info("training on %d of %d samples (style kinds %s)", len(kept), count, ", ".join(config.train_kinds))
    if len(kept) < config.transform_batch:
        raise ValueError(f"train_kinds: only {len(kept)} samples are of kinds {', '.join(config.train_kinds)}")
    return kept


def _canvas(photo: np.ndarray, short: int, rng: np.random.Generator) -> np.ndarray:
    """A random landscape ``short`` x 4/3 ``short`` window of the photo (portraits turned 90°).

    Only a few distinct shapes, so the teacher's per-size interpreters stay cached.
    """
    if photo.shape[0] > photo.shape[1]:
        photo = np.rot90(photo)
    out_h, out_w = short, round(short * 4 / 3 / 8) * 8
    h, w = photo.shape[:2]
    scale = max(out_h / h, out_w / w)
    image = resize(np.ascontiguousarray(photo), max(out_h, round(h * scale)), max(out_w, round(w * scale)))
    h, w = image.shape[:2]
    top, left = rng.integers(0, h - out_h + 1), rng.integers(0, w - out_w + 1)
    return image[top : top + out_h, left : left + out_w]


def _recolour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random hue rotation, saturation and gamma: new colour schemes for known textures."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(0, 180)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.6, 1.4), 0, 255)
    hsv[..., 2] = 255 * (hsv[..., 2] / 255) ** rng.uniform(0.7, 1.4)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _predictor_image(sources: Sources, rng: np.random.Generator) -> np.ndarray:
    """A 256x256 training image for the predictor: any style of :func:`draw_style` (sometimes
    turned 90 degrees), with Magenta's preprocessing. The teacher labels each, so any
    augmentation is valid."""
    image = draw_style(sources, rng)
    if rng.random() < 0.25:
        image = np.rot90(image)
    return to_uint8(style_input(np.ascontiguousarray(image)))


def build_predictor_set(sources: Sources, config: Config, directory: Path) -> None:
    """Teacher embeddings of augmented images: ``image`` uint8 256x256, ``embedding``."""
    total = config.predictor_samples
    shapes = {"image": ((total, 256, 256, 3), "uint8"), "embedding": ((total, 100), "float32")}

    def make(index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([config.seed, 13, index])
        image = _predictor_image(sources, rng)
        return {"image": image[None], "embedding": sources.teacher.embed(to_float(image))[None]}

    ArraySet(directory, shapes).fill(total, make, 1)
