"""Quality, look, steadiness, predictor agreement, int8/fp16 loss, speed and visual evidence of the release.

Usage (from the repository root)::

    python -m models.evaluate --config full

Reads ``models/release`` (the shipped files) and, when present, the float32 exports in
``models/work/<config>/export``; writes ``models/cards/figures.json``, ``figures.md``, the
contact sheets and the side-by-side clip, and prints the markdown tables. Per held-out style:
style/content distance, colour spread and grid peak ratios against Magenta fp16
(:mod:`models.picture_metrics`); on the shared clips and noisy stills: warping error and flicker
(:mod:`models.steadiness`); definitions in ``models/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import benchmark, catalogue, metrics, picture_metrics, sheets, steadiness
from models.config import CONFIGS, SIZE_MULTIPLE, work_dir
from models.imaging import center_square, load_rgb, resize, style_input, to_float
from models.litert import Predictor, Transform, magenta_at_size
from models.paths import CARDS_DIR, RELEASE_DIR, shared_model
from models.stylizers import EVAL_SIZE, Stylizer, magenta_stylizer, single_stylizer
from models.teacher import Teacher

log = logging.getLogger(__name__)

SHEET_STYLES = (
    "pd_starry_night.jpg",
    "pd_wave_crop.jpg",
    "tfexample_style16.jpg",
    "magenta_towers_1916_sq.jpg",
    "tfexample_style8.jpg",
)
SHEET_CONTENT = 3
SHEET_POOL = 16
CLIP_SOURCE, CLIP_STYLE, CLIP_SECONDS, CLIP_SHORT_SIDE = "cockatoo.mp4", "pd_starry_night.jpg", 3.0, 256
STILL_PHOTOS = 4
PER_STYLE_TABLES = ("ours_int8", "ours_fp16")


@dataclass
class Candidate:
    """A transform under test and which predictor supplies its embedding."""

    name: str
    stylize: Stylizer
    predictor: str = "teacher"


def release_transforms(release: Path = RELEASE_DIR) -> dict[str, Transform]:
    """The default model's shipped transforms by kind (``int8``, ``fp16``)."""
    manifest = json.loads((release / "manifest.json").read_text())
    entry = manifest["models"][manifest["default"]]
    return {kind: Transform(release / name) for kind, name in entry["transform"].items()}


def load_candidates(release: Path, export: Path) -> tuple[list[Candidate], dict[str, Predictor]]:
    """Magenta (fp16, int8), the shipped transforms (int8, fp16; teacher and own embeddings) and
    the float32 export when available; plus the predictors to compare."""
    manifest = json.loads((release / "manifest.json").read_text())
    entry = manifest["models"][manifest["default"]]
    ours = release_transforms(release)
    candidates = [
        Candidate("magenta_fp16", magenta_stylizer("fp16")),
        Candidate("magenta_int8", magenta_stylizer("int8")),
        Candidate("ours_int8", single_stylizer(ours["int8"])),
        Candidate("ours_fp16", single_stylizer(ours["fp16"])),
        Candidate("ours_int8+our_predictor", single_stylizer(ours["int8"]), "ours"),
        Candidate("ours_fp16+our_predictor", single_stylizer(ours["fp16"]), "ours"),
        Candidate("magenta_fp16+our_predictor", magenta_stylizer("fp16"), "ours"),
    ]
    predictors = {"ours": Predictor(release / entry["predictor"])}
    if (export / "transform_fp32.tflite").exists():
        candidates.insert(2, Candidate("ours_fp32", single_stylizer(Transform(export / "transform_fp32.tflite"))))
        for kind in ("fp32", "fp16", "int8"):
            predictors[f"ours_{kind}"] = Predictor(export / f"predictor_{kind}.tflite")
    return candidates, predictors


def content_square(path: Path) -> np.ndarray:
    return to_float(resize(center_square(load_rgb(path)), EVAL_SIZE, EVAL_SIZE))


QualityRow = dict[str, float]


def quality_by_style(
    candidates: list[Candidate], predictor: Predictor, contents: list[Path], styles: list[str]
) -> dict[str, dict[str, QualityRow]]:
    """Per candidate and style, over the photos: mean style and content distance, SSIM/PSNR to the
    first candidate (Magenta fp16), mean colour spread, and the grid peak ratios at 8 and 4 px
    (``grid8``, ``grid4``; see :mod:`models.picture_metrics`)."""
    teacher, backbone = Teacher(), metrics.Backbone()
    result: dict[str, dict[str, QualityRow]] = {c.name: {} for c in candidates}
    for style_name in styles:
        style = load_rgb(catalogue.style_dir() / style_name)
        embeddings = {"teacher": teacher.embed(style_input(style)), "ours": predictor(style_input(style))}
        style_grams = metrics.grams(backbone.features(style_input(style, 224)))
        values: dict[str, dict[str, list[float]]] = {c.name: {} for c in candidates}
        spectra = {c.name: picture_metrics.GridSpectrum(picture_metrics.GRID_PERIODS) for c in candidates}
        for path in contents:
            content = content_square(path)
            content_features = backbone.features(content)
            reference = None
            for candidate in candidates:
                output = candidate.stylize(content, embeddings[candidate.predictor])
                reference = output if reference is None else reference
                features = backbone.features(output)
                row = values[candidate.name]
                row.setdefault("style", []).append(metrics.style_distance(features, style_grams))
                row.setdefault("content", []).append(metrics.content_distance(features, content_features))
                row.setdefault("ssim", []).append(metrics.ssim(output, reference))
                row.setdefault("psnr", []).append(min(metrics.psnr(output, reference), 99.0))
                row.setdefault("colour_spread", []).append(picture_metrics.colour_spread(output))
                spectra[candidate.name].add(output)
        for name, row in values.items():
            result[name][style_name] = {key: float(np.mean(v)) for key, v in row.items()}
            for period in picture_metrics.GRID_PERIODS:
                result[name][style_name][f"grid{period}"] = spectra[name].peak_ratio(period)
        log.info("quality: %s done", style_name)
    return result


def summarize(by_style: dict[str, dict[str, QualityRow]], reference: str = "magenta_fp16") -> dict[str, QualityRow]:
    """Means over styles plus, per style against ``reference``, the mean and the worst of:
    style and content distance excess (``style_rel_*``, ``content_rel_*``: ours / reference - 1;
    worst = largest), colour spread ratio (``colour_ratio_*``; worst = smallest) and grid peak
    ratio of ratios (``grid8_ratio_*``, ``grid4_ratio_*``; worst = largest)."""
    base = by_style[reference]
    summary: dict[str, QualityRow] = {}
    for name, styles in by_style.items():
        keys = next(iter(styles.values())).keys()
        row = {key: float(np.mean([s[key] for s in styles.values()])) for key in keys}
        relative = {
            "style_rel": ([s["style"] / base[k]["style"] - 1 for k, s in styles.items()], max),
            "content_rel": ([s["content"] / base[k]["content"] - 1 for k, s in styles.items()], max),
            "colour_ratio": ([s["colour_spread"] / base[k]["colour_spread"] for k, s in styles.items()], min),
            **{
                f"grid{p}_ratio": ([s[f"grid{p}"] / base[k][f"grid{p}"] for k, s in styles.items()], max)
                for p in picture_metrics.GRID_PERIODS
            },
        }
        for key, (values, worst) in relative.items():
            row[f"{key}_mean"] = float(np.mean(values))
            row[f"{key}_worst"] = float(worst(values))
        summary[name] = row
    return summary


def quality(
    candidates: list[Candidate], predictor: Predictor, contents: list[Path], styles: list[str]
) -> dict[str, QualityRow]:
    """:func:`summarize` of :func:`quality_by_style` (``style``, ``content``, ``ssim``, ``psnr``:
    means over all pairs, as before; the first candidate is the reference)."""
    by_style = quality_by_style(candidates, predictor, contents, styles)
    return summarize(by_style, candidates[0].name)


def float_agreement(
    candidates: list[Candidate], contents: list[Path], styles: list[str]
) -> dict[str, dict[str, float]]:
    """PSNR/SSIM of the shipped int8 and fp16 transforms to the float32 export (quantization loss)."""
    by_name = {c.name: c for c in candidates}
    if "ours_fp32" not in by_name:
        return {}
    teacher = Teacher()
    scores: dict[str, dict[str, list[float]]] = {"ours_int8": {}, "ours_fp16": {}}
    for style_name in styles:
        embedding = teacher.embed_image(load_rgb(catalogue.style_dir() / style_name))
        for path in contents:
            content = content_square(path)
            reference = by_name["ours_fp32"].stylize(content, embedding)
            for name, row in scores.items():
                output = by_name[name].stylize(content, embedding)
                row.setdefault("psnr", []).append(metrics.psnr(output, reference))
                row.setdefault("ssim", []).append(metrics.ssim(output, reference))
                row.setdefault("max_abs", []).append(float(np.abs(output - reference).max()))
    return {name: {k: float(np.mean(v)) for k, v in row.items()} for name, row in scores.items()}


def predictor_agreement(
    predictors: Mapping[str, Callable[[np.ndarray], np.ndarray]], crops: int = 8
) -> dict[str, dict[str, float | None]]:
    """Cosine similarity of our embeddings to Magenta's, on held-out and on training styles.

    Style embeddings are far from orthogonal (mean pairwise cosine ~0.85), so the table also
    gives the cosine after subtracting the mean training embedding (``centred``) and a baseline
    that always answers that mean.
    """
    teacher = Teacher()
    rng = np.random.default_rng(3)
    images = {name: load_rgb(catalogue.style_dir() / name) for name in catalogue.all_styles()}
    mean = np.mean([teacher.embed_image(images[n]) for n in catalogue.training_styles()], axis=0)
    embedders: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        **predictors,
        "baseline_mean_embedding": lambda image: mean,
    }
    samples: dict[str, list[np.ndarray]] = {"held_out": [], "held_out_crops": [], "training": []}
    for name, image in images.items():
        group = "held_out" if name in catalogue.HELD_OUT_STYLES else "training"
        samples[group].append(style_input(image))
        for _ in range(crops if group == "held_out" else 0):
            h, w = image.shape[:2]
            side = int(min(h, w) * rng.uniform(0.4, 1.0))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            samples["held_out_crops"].append(style_input(image[top : top + side, left : left + side]))
    targets = {group: [teacher.embed(x) for x in xs] for group, xs in samples.items()}
    result: dict[str, dict[str, float | None]] = {}
    for name, embed in embedders.items():
        row: dict[str, float | None] = {}
        for group, xs in samples.items():
            ours = [embed(x).reshape(-1) for x in xs]
            cosines = [cosine(a, b) for a, b in zip(ours, targets[group], strict=True)]
            row[f"{group}_mean"] = float(np.mean(cosines))
            row[f"{group}_min"] = float(np.min(cosines))
            row[f"{group}_centred"] = (
                None
                if name.startswith("baseline")
                else float(np.mean([cosine(a - mean, b - mean) for a, b in zip(ours, targets[group], strict=True)]))
            )
        result[name] = row
    return result


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1), b.reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def speed_and_coverage(release: Path, repeats: int) -> dict[str, object]:
    """ms/frame (ours int8/fp16 and Magenta int8/fp16, same run), MACs, XNNPACK coverage."""
    manifest = json.loads((release / "manifest.json").read_text())
    entry = manifest["models"][manifest["default"]]
    ours = {kind: (release / name).read_bytes() for kind, name in entry["transform"].items()}

    def own(kind: str) -> Callable[[int, int], Transform]:
        return lambda h, w: Transform(ours[kind])

    def magenta(kind: str) -> Callable[[int, int], Transform]:
        return lambda h, w: Transform(magenta_at_size(shared_model(f"{kind}_transfer"), h, w))

    factories = {
        "ours_int8": own("int8"),
        "ours_fp16": own("fp16"),
        "magenta_int8": magenta("int8"),
        "magenta_fp16": magenta("fp16"),
    }
    coverage = {
        f"{kind}@{h}x{w}": benchmark.undelegated_ops(ours[kind], h, w)
        for kind in ours
        for h, w in benchmark.COVERAGE_SIZES
    }
    coverage.update({f"{kind}@batch2": benchmark.undelegated_ops(ours[kind], 264, 200, 2) for kind in ours})
    predictor_model = (release / entry["predictor"]).read_bytes()
    coverage["predictor"] = [
        op for op in benchmark.executed_ops(Predictor(predictor_model).interpreter) if op != "DELEGATE"
    ]
    magenta_int8 = magenta_at_size(shared_model("int8_transfer"), 480, 640)
    return {
        "ms": benchmark.speed_table(factories, repeats),
        "gmac_640x480": {
            "ours": benchmark.tflite_macs(ours["int8"], 480, 640) / 1e9,
            "magenta": benchmark.tflite_macs(magenta_int8, 480, 640) / 1e9,
        },
        "size_bytes": {name: (release / name).stat().st_size for name in entry["sha256"]},
        "undelegated_ops": coverage,
        "load_average": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, LiteRT 2 threads, XNNPACK",
    }


def contact_sheets(candidates: list[Candidate], predictor: Predictor, out: Path) -> list[Path]:
    """One JPEG per style of :data:`SHEET_STYLES`: content | Magenta fp16 | ours int8 | ours int8 +
    own predictor, on the :data:`SHEET_CONTENT` val photos (of the first :data:`SHEET_POOL`) with
    the flattest areas, each row followed by 1:1 crops of that area (:mod:`models.sheets`)."""
    by_name = {c.name: c for c in candidates}
    columns = ("magenta_fp16", "ours_int8", "ours_int8+our_predictor")
    teacher = Teacher()
    photos = {path.name: content_square(path) for path in catalogue.content_images("val")[:SHEET_POOL]}
    contents = [photos[name] for name in sheets.flattest_photos(photos, SHEET_CONTENT)]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for style_name in SHEET_STYLES:
        style = load_rgb(catalogue.style_dir() / style_name)
        embeddings = {"teacher": teacher.embed(style_input(style)), "ours": predictor(style_input(style))}
        held = "held-out" if style_name in catalogue.HELD_OUT_STYLES else "training"
        path = out / f"sheet_{Path(style_name).stem}.jpg"
        sheets.contact_sheet(
            path,
            f"{style_name} ({held} style), {EVAL_SIZE}x{EVAL_SIZE}",
            style,
            contents,
            {name: by_name[name].stylize for name in columns},
            {name: embeddings[by_name[name].predictor] for name in columns},
        )
        written.append(path)
    return written


def steadiness_figures(ours: Mapping[str, Stylizer], stills: list[np.ndarray], quick: bool = False) -> dict:
    """Warping error on the shared clips and flicker amplification on ``stills``, Magenta fp16
    and ``ours`` with Magenta's embedding of :data:`models.steadiness.VIDEO_STYLES`
    (``quick``: one run of 8 frames per clip, the first two styles)."""
    teacher = Teacher()
    stylizers = {"magenta_fp16": teacher.stylize, **ours}
    styles = steadiness.VIDEO_STYLES[:2] if quick else steadiness.VIDEO_STYLES
    embeddings = {name: teacher.embed_image(load_rgb(catalogue.style_dir() / name)) for name in styles}
    segments = 1 if quick else steadiness.SEGMENTS
    return {
        "sampling": {
            "short_side": steadiness.VIDEO_SHORT_SIDE,
            "segments": segments,
            "segment_length": steadiness.SEGMENT_LENGTH,
            "styles": list(styles),
            "stills": len(stills),
            "still_frames": steadiness.STILL_FRAMES,
            "noise_sigma": steadiness.NOISE_SIGMA,
        },
        "warping": steadiness.warping(stylizers, embeddings, segments=segments),
        "flicker": steadiness.flicker(stylizers, embeddings, stills),
    }


def evidence_clip(ours: Stylizer, out: Path) -> Path:
    """The side-by-side clip (content | Magenta fp16 | ours) of :data:`CLIP_SOURCE` in ``out``."""
    teacher = Teacher()
    embedding = teacher.embed_image(load_rgb(catalogue.style_dir() / CLIP_STYLE))
    path = out / f"side_by_side_{Path(CLIP_SOURCE).stem}_{Path(CLIP_STYLE).stem}.mp4"
    stylizers = {"Magenta fp16": teacher.stylize, "ours int8": ours}
    sheets.side_by_side(path, CLIP_SOURCE, stylizers, embedding, CLIP_SECONDS, CLIP_SHORT_SIDE)
    return path


def _speed_md(speed: dict) -> list[str]:
    sizes = ("384x384", "480x640", "720x1280")
    lines = [
        "### Speed (ms per frame, LiteRT, 2 threads, XNNPACK; all four models in the same run)",
        "",
        "| model | " + " | ".join(sizes) + " |",
        "|---|---|---|---|",
    ]
    for name, row in speed["ms"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[k]:.1f} ({1000 / row[k]:.0f} fps)" for k in sizes) + " |")
    gmac, load_average = speed["gmac_640x480"], ", ".join(f"{x:.2f}" for x in speed["load_average"])
    return lines + [
        "",
        f"GMAC per 640x480 frame: ours {gmac['ours']:.3f}, Magenta {gmac['magenta']:.3f}. "
        f"Load average after the run: {load_average}.",
        "",
    ]


def quality_md(title: str, rows: Mapping[str, QualityRow]) -> list[str]:
    """Markdown table of :func:`summarize` rows (a ``magenta_fp16`` row is the reference)."""
    lines = [
        f"### {title}",
        "",
        "Per-style columns: ours / Magenta fp16 for each style, then the mean and the worst over styles "
        "(distances: +% above Magenta, worst = largest; colour spread: ratio, worst = smallest; grid: ratio "
        "of peak ratios, worst = largest). Grid peak ratio: averaged over all styles, Magenta's in brackets.",
        "",
        "| model | style dist. | vs Magenta | per style: mean / worst | content dist. | vs Magenta | "
        "per style: mean / worst | colour spread ratio: mean / worst | grid 8 px | vs Magenta: mean / worst | "
        "grid 4 px | vs Magenta: mean / worst | SSIM to Magenta | PSNR to Magenta (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = rows["magenta_fp16"]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['style']:.4f} | {row['style'] / base['style'] - 1:+.1%} | "
            f"{row['style_rel_mean']:+.1%} / {row['style_rel_worst']:+.1%} | {row['content']:.4f} | "
            f"{row['content'] / base['content'] - 1:+.1%} | "
            f"{row['content_rel_mean']:+.1%} / {row['content_rel_worst']:+.1%} | "
            f"{row['colour_ratio_mean']:.2f} / {row['colour_ratio_worst']:.2f} | "
            + "".join(
                f"{row[f'grid{p}']:.1f} ({base[f'grid{p}']:.1f}) | "
                f"{row[f'grid{p}_ratio_mean']:.1f} / {row[f'grid{p}_ratio_worst']:.1f} | "
                for p in picture_metrics.GRID_PERIODS
            )
            + f"{row['ssim']:.3f} | {row['psnr']:.2f} |"
        )
    return lines + [""]


def _per_style_md(by_style: dict[str, dict[str, QualityRow]], name: str) -> list[str]:
    base = by_style["magenta_fp16"]
    lines = [
        f"### Per held-out style: {name} vs Magenta fp16",
        "",
        "| style | style dist. vs Magenta | content dist. vs Magenta | colour spread (Magenta) | ratio | "
        "grid 8 px (Magenta) | ratio | grid 4 px (Magenta) | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for style, row in by_style[name].items():
        ref = base[style]
        cells = [f"{row[k] / ref[k] - 1:+.1%}" for k in ("style", "content")]
        cells += [
            f"{row[k]:.1f} ({ref[k]:.1f}) | {row[k] / ref[k]:.{2 if k == 'colour_spread' else 1}f}"
            for k in ("colour_spread", "grid8", "grid4")
        ]
        lines.append(f"| {Path(style).stem} | " + " | ".join(cells) + " |")
    return lines + [""]


def _cell(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _predictor_md(rows: dict[str, dict[str, float | None]]) -> list[str]:
    keys = (
        "held_out_mean",
        "held_out_min",
        "held_out_centred",
        "held_out_crops_mean",
        "held_out_crops_centred",
        "training_mean",
        "training_centred",
    )
    lines = [
        "### Predictor: cosine similarity to Magenta's embedding",
        "",
        "| predictor | held-out | held-out (min) | held-out centred | held-out crops | "
        "held-out crops centred | training | training centred |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | " + " | ".join(_cell(row[k]) for k in keys) + " |" for name, row in rows.items()]
    return lines + [""]


def _quantization_md(rows: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "### Quantization loss: shipped transform vs the float32 model (held-out styles)",
        "",
        "| variant | PSNR to fp32 (dB) | SSIM to fp32 | mean of per-image max abs diff |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['max_abs']:.3f} |" for name, row in rows.items()
    ]
    return lines + [""]


def steadiness_md(figures: dict) -> list[str]:
    """Markdown tables of :func:`steadiness_figures`."""
    sampling = figures["sampling"]
    styles = [Path(name).stem for name in sampling["styles"]]
    lines = [
        "### Steadiness: warping error on the shared clips",
        "",
        f"Short side {sampling['short_side']} px, {sampling['segments']} run(s) of {sampling['segment_length']} "
        f"consecutive frames per clip, Magenta's embedding of {', '.join(styles)}; DIS flow on the content, "
        "forward-backward and motion-boundary mask. Error: mean squared difference x 1000 (RGB in [0, 1]), mean "
        "over styles; vs Magenta: per style ratio, mean / worst (largest). Per unit of texture: error over the "
        "output's local variance.",
        "",
        "| clip | model | warping error | vs Magenta | per unit of texture | vs Magenta | valid pixels |",
        "|---|---|---|---|---|---|---|",
    ]
    for clip, rows in figures["warping"].items():
        relative = {
            key: steadiness.relative({name: {style: v[key] for style, v in row.items()} for name, row in rows.items()})
            for key in ("error", "per_texture")
        }
        for name, row in rows.items():
            error, texture = relative["error"][name], relative["per_texture"][name]
            valid = np.mean([v["valid"] for v in row.values()])
            lines.append(
                f"| {clip} | {name} | {1000 * error['mean']:.2f} | "
                f"{error['ratio_mean']:.2f} / {error['ratio_worst']:.2f} | {texture['mean']:.3f} | "
                f"{texture['ratio_mean']:.2f} / {texture['ratio_worst']:.2f} | {valid:.0%} |"
            )
    flicker = figures["flicker"]
    flicker_relative = steadiness.relative(flicker)
    lines += [
        "",
        "### Steadiness: flicker amplification on a still photo with noise",
        "",
        f"{sampling['stills']} val photos at {EVAL_SIZE}x{EVAL_SIZE}, {sampling['still_frames']} frames each with "
        f"independent Gaussian noise (sigma {255 * sampling['noise_sigma']:.0f}/255): mean absolute frame-to-frame "
        "change of the output over that of the input.",
        "",
        "| model | " + " | ".join(styles) + " | vs Magenta: mean / worst |",
        "|---|" + "---|" * (len(styles) + 1),
    ]
    for name, row in flicker.items():
        cells = " | ".join(f"{row[style]:.2f}" for style in sampling["styles"])
        ratio = flicker_relative[name]
        lines.append(f"| {name} | {cells} | {ratio['ratio_mean']:.2f} / {ratio['ratio_worst']:.2f} |")
    return lines + [""]


def markdown(figures: dict) -> str:
    """The figures as markdown tables (whichever parts ``figures`` holds)."""
    lines = _speed_md(figures["speed"])
    if "quality" in figures:
        lines += quality_md(
            f"Quality: {len(figures['held_out_styles'])} held-out styles x "
            f"{figures['contents']} held-out photos, {EVAL_SIZE}x{EVAL_SIZE}",
            figures["quality"],
        )
        for name in PER_STYLE_TABLES:
            if name in figures.get("quality_by_style", {}):
                lines += _per_style_md(figures["quality_by_style"], name)
        lines += quality_md(
            "Quality: built-in training styles (starry, wave, scream, kandinsky) x 16 photos",
            figures["quality_builtin_training"],
        )
        lines += _predictor_md(figures["predictor"])
    if figures.get("quantization"):
        lines += _quantization_md(figures["quantization"])
    if "steadiness" in figures:
        lines += steadiness_md(figures["steadiness"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--work", type=Path, help="work directory root (default models/work)")
    parser.add_argument("--release", type=Path, default=RELEASE_DIR)
    parser.add_argument("--out", type=Path, default=CARDS_DIR)
    parser.add_argument("--contents", type=int, default=64, help="number of val photos")
    parser.add_argument("--repeats", type=int, default=15, help="timed invokes per size")
    parser.add_argument("--speed-only", action="store_true", help="print the speed table only")
    parser.add_argument(
        "--candidates",
        help="comma-separated candidates to measure (default: all; magenta_fp16, ours_int8 and "
        "ours_int8+our_predictor are always kept, for the reference and the sheets)",
    )
    parser.add_argument(
        "--keep-speed",
        action="store_true",
        help="reuse the speed figures of <out>/figures.json instead of measuring (for a busy machine)",
    )
    parser.add_argument(
        "--keep-quantization",
        action="store_true",
        help="reuse the quantization figures of <out>/figures.json when the float32 export is absent",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.speed_only:
        speed = speed_and_coverage(args.release, args.repeats)
        print(markdown({"speed": speed}))
        return
    previous = args.out / "figures.json"
    if (args.keep_speed or args.keep_quantization) and not previous.exists():
        parser.error(f"--keep-speed/--keep-quantization: {previous} not found")
    export = work_dir(CONFIGS[args.config], args.work) / "export"
    candidates, predictors = load_candidates(args.release, export)
    if args.candidates:
        wanted = {"magenta_fp16", "ours_int8", "ours_int8+our_predictor", *args.candidates.split(",")}
        unknown = wanted - {c.name for c in candidates}
        if unknown:
            parser.error(f"--candidates: unknown {sorted(unknown)}")
        candidates = [c for c in candidates if c.name in wanted]
    contents = catalogue.content_images("val")[: args.contents]
    held_out = list(catalogue.HELD_OUT_STYLES)
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()
        log.info("%s: %.0f s", stage, seconds[stage])

    by_style = quality_by_style(candidates, predictors["ours"], contents, held_out)
    lap("quality")
    builtin = quality(candidates, predictors["ours"], contents[:16], [s.source for s in catalogue.BUILTIN_STYLES[:4]])
    lap("quality_builtin_training")
    quantization = float_agreement(candidates, contents[:16], held_out)
    if not quantization and args.keep_quantization:
        quantization = json.loads(previous.read_text()).get("quantization", {})
    lap("quantization")
    predictor = predictor_agreement(predictors)
    lap("predictor")
    ours = {f"ours_{kind}": single_stylizer(transform) for kind, transform in release_transforms(args.release).items()}
    stills = [content_square(path) for path in contents[:STILL_PHOTOS]]
    steady = steadiness_figures(ours, stills)
    lap("steadiness")
    args.out.mkdir(parents=True, exist_ok=True)
    contact_sheets(candidates, predictors["ours"], args.out)
    evidence_clip(ours["ours_int8"], args.out)
    lap("sheets_and_clip")
    if args.keep_speed:
        speed = json.loads(previous.read_text())["speed"]
    else:
        speed = speed_and_coverage(args.release, args.repeats)
        lap("speed")
    figures = {
        "eval_size": EVAL_SIZE,
        "size_multiple": SIZE_MULTIPLE,
        "contents": len(contents),
        "held_out_styles": held_out,
        "speed": speed,
        "quality_by_style": by_style,
        "quality": summarize(by_style),
        "quality_builtin_training": builtin,
        "quantization": quantization,
        "predictor": predictor,
        "steadiness": steady,
        "stage_seconds": seconds,
    }
    (args.out / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    table = markdown(figures)
    (args.out / "figures.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
