"""Two built releases side by side against Magenta fp16, with the evaluation's look metrics.

Usage (from the repository root)::

    python -m models.compare_releases quality --old models/release --new models/work/v2_release --contents 12
    python -m models.compare_releases steadiness --new models/work/v2_release
    python -m models.compare_releases quantization --new models/work/v2_release --fp32 EXPORT/transform_fp32.tflite
    python -m models.compare_releases speed --old models/release --new models/work/v2_release

``quality``: per held-out style (the first ``--contents`` val photos at 384x384), Magenta fp16 and
each release's int8/fp16 transform with Magenta's embedding and with its own predictor's embedding
(the old release: int8 only): style/content distance, colour spread and grid peak ratios (mean and worst
over styles, :func:`models.evaluate.summarize`). ``steadiness``: warping error on the shared clips
and flicker (:func:`models.evaluate.steadiness_figures`, full sampling) of the new release (and the
old with ``--old``). ``quantization``: the new int8/fp16 transform vs its float32 export
(``EXPORT``: the build's ``models/work/full/export``), PSNR/SSIM on the held-out styles x 16 val
photos. ``speed``: ms per frame of both releases and Magenta int8/fp16 alternating in one run,
MACs and ops left out of XNNPACK. Prints markdown, writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models import benchmark, catalogue, evaluate, metrics
from models.imaging import load_rgb, style_input
from models.litert import Predictor, Transform, magenta_at_size
from models.paths import RELEASE_DIR, shared_model
from models.stylizers import Stylizer, single_stylizer
from models.teacher import Teacher

PARTS = ("quality", "steadiness", "quantization", "speed")


def _entry(release: Path) -> dict:
    manifest = json.loads((release / "manifest.json").read_text())
    return dict(manifest["models"][manifest["default"]])


def release_parts(release: Path) -> tuple[dict[str, Transform], Predictor]:
    """A release's transforms by kind (``int8``, ``fp16``) and its predictor."""
    entry = _entry(release)
    transforms = {kind: Transform(release / name) for kind, name in entry["transform"].items()}
    return transforms, Predictor(release / entry["predictor"])


def with_embeddings(stylize: Stylizer, table: dict[bytes, np.ndarray]) -> Stylizer:
    """``stylize`` with the embedding it is given replaced by ``table[embedding bytes]``: a second
    predictor in a :func:`models.evaluate.quality_by_style` run, keyed by the teacher's embedding."""
    return lambda content, embedding: stylize(content, table[np.asarray(embedding).tobytes()])


def quality_candidates(
    old: Path | None, new: Path, styles: list[str]
) -> tuple[list[evaluate.Candidate], Predictor]:
    """Magenta fp16 first, then per release (tags ``old``, ``new``) ``<tag>_int8``, ``<tag>_fp16``,
    ``<tag>_int8+own_predictor`` and ``new_fp16+own_predictor``; the new release's predictor is the
    run's ``ours``, the old one's embeddings go through :func:`with_embeddings`."""
    candidates = [evaluate.Candidate("magenta_fp16", evaluate.magenta_stylizer("fp16"))]
    new_transforms, new_predictor = release_parts(new)
    if old is not None:
        transforms, predictor = release_parts(old)
        teacher = Teacher()
        table = {}
        for style in styles:
            image = style_input(load_rgb(catalogue.style_dir() / style))
            table[np.asarray(teacher.embed(image)).tobytes()] = predictor(image)
        int8 = single_stylizer(transforms["int8"])
        candidates += [
            evaluate.Candidate("old_int8", int8),
            evaluate.Candidate("old_fp16", single_stylizer(transforms["fp16"])),
            evaluate.Candidate("old_int8+own_predictor", with_embeddings(int8, table)),
        ]
    candidates += [
        evaluate.Candidate("new_int8", single_stylizer(new_transforms["int8"])),
        evaluate.Candidate("new_fp16", single_stylizer(new_transforms["fp16"])),
        evaluate.Candidate("new_int8+own_predictor", single_stylizer(new_transforms["int8"]), "ours"),
        evaluate.Candidate("new_fp16+own_predictor", single_stylizer(new_transforms["fp16"]), "ours"),
    ]
    return candidates, new_predictor


def quality(old: Path | None, new: Path, contents: int, styles: list[str]) -> dict:
    """Per-style figures and their summary (:func:`models.evaluate.summarize`)."""
    candidates, predictor = quality_candidates(old, new, styles)
    photos = catalogue.content_images("val")[:contents]
    by_style = evaluate.quality_by_style(candidates, predictor, photos, styles)
    return {"contents": len(photos), "quality_by_style": by_style, "quality": evaluate.summarize(by_style)}


def steadiness(old: Path | None, new: Path) -> dict:
    """Warping error and flicker, Magenta fp16 and the releases' int8/fp16 (old: int8 only)."""
    ours = {f"new_{kind}": single_stylizer(t) for kind, t in release_parts(new)[0].items()}
    if old is not None:
        ours["old_int8"] = single_stylizer(release_parts(old)[0]["int8"])
    stills = [evaluate.content_square(p) for p in catalogue.content_images("val")[: evaluate.STILL_PHOTOS]]
    return {"steadiness": evaluate.steadiness_figures(ours, stills)}


def quantization(new: Path, fp32: Path, styles: list[str], contents: int = 16) -> dict:
    """PSNR/SSIM of the new int8 and fp16 transforms to the float32 export, overall and per style."""
    transforms = release_parts(new)[0]
    reference = single_stylizer(Transform(fp32))
    teacher = Teacher()
    scores: dict[str, dict[str, list[float]]] = {kind: {} for kind in transforms}
    int8_by_style = {}
    for style in styles:
        embedding = teacher.embed_image(load_rgb(catalogue.style_dir() / style))
        psnrs = []
        for path in catalogue.content_images("val")[:contents]:
            content = evaluate.content_square(path)
            target = reference(content, embedding)
            for kind, transform in transforms.items():
                output = single_stylizer(transform)(content, embedding)
                row = scores[kind]
                row.setdefault("psnr", []).append(metrics.psnr(output, target))
                row.setdefault("ssim", []).append(metrics.ssim(output, target))
                if kind == "int8":
                    psnrs.append(metrics.psnr(output, target))
        int8_by_style[style] = float(np.mean(psnrs))
    summary = {f"new_{kind}": {k: float(np.mean(v)) for k, v in row.items()} for kind, row in scores.items()}
    return {"quantization": summary, "int8_psnr_by_style": int8_by_style}


def speed(old: Path | None, new: Path, repeats: int) -> dict:
    """ms/frame (both releases and Magenta alternating in one run), GMAC and XNNPACK coverage."""

    def own(release: Path, kind: str) -> Callable[[int, int], Transform]:
        data = (release / _entry(release)["transform"][kind]).read_bytes()
        return lambda h, w: Transform(data)

    def magenta(kind: str) -> Callable[[int, int], Transform]:
        return lambda h, w: Transform(magenta_at_size(shared_model(f"{kind}_transfer"), h, w))

    releases = {"new": new} if old is None else {"old": old, "new": new}
    factories = {f"{tag}_{kind}": own(r, kind) for tag, r in releases.items() for kind in ("int8", "fp16")}
    factories.update({"magenta_int8": magenta("int8"), "magenta_fp16": magenta("fp16")})
    int8 = {tag: (r / _entry(r)["transform"]["int8"]).read_bytes() for tag, r in releases.items()}
    return {
        "ms": benchmark.speed_table(factories, repeats),
        "gmac_640x480": {tag: benchmark.tflite_macs(data, 480, 640) / 1e9 for tag, data in int8.items()},
        "undelegated_ops": {
            f"new_{kind}@{h}x{w}": benchmark.undelegated_ops((new / name).read_bytes(), h, w)
            for kind, name in _entry(new)["transform"].items()
            for h, w in benchmark.COVERAGE_SIZES
        },
        "load_average": os.getloadavg(),
    }


def _speed_md(figures: dict) -> list[str]:
    sizes = list(next(iter(figures["ms"].values())))
    lines = ["| model | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name, row in figures["ms"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[s]:.1f} ({1000 / row[s]:.0f} fps)" for s in sizes) + " |")
    load = ", ".join(f"{x:.2f}" for x in figures["load_average"])
    return lines + [f"\nGMAC per 640x480: {figures['gmac_640x480']}; load average after: {load}"]


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--old", type=Path, help="the release to compare against (e.g. models/release)")
    parser.add_argument("--new", type=Path, default=RELEASE_DIR, help="the candidate release directory")
    parser.add_argument("--fp32", type=Path, help="float32 export of the new transform (quantization)")
    parser.add_argument("--contents", type=int, default=12, help="number of val photos (quality)")
    parser.add_argument("--styles", type=int, default=len(catalogue.HELD_OUT_STYLES),
                        help="the first N held-out styles (default: all)")
    parser.add_argument("--training-styles", action="store_true",
                        help="quality on the four built-in training styles (starry, wave, scream, "
                             "kandinsky) instead of the held-out ones (--styles: the first N of those)")
    parser.add_argument("--repeats", type=int, default=15, help="timed invokes per size (speed)")
    parser.add_argument("--out", type=Path, help="JSON output (default: print only)")
    args = parser.parse_args(argv)
    if args.part == "quantization" and args.fp32 is None:
        parser.error("quantization needs --fp32")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    pool = [s.source for s in catalogue.BUILTIN_STYLES[:4]] if args.training_styles else catalogue.HELD_OUT_STYLES
    styles = list(pool)[: args.styles]
    start = time.monotonic()
    if args.part == "quality":
        figures = quality(args.old, args.new, args.contents, styles)
        kind = "built-in training" if args.training_styles else "held-out"
        title = f"{figures['contents']} val photos x {len(styles)} {kind} styles"
        text = "\n".join(evaluate.quality_md(title, figures["quality"]))
    elif args.part == "steadiness":
        figures = steadiness(args.old, args.new)
        text = "\n".join(evaluate.steadiness_md(figures["steadiness"]))
    elif args.part == "quantization":
        figures = quantization(args.new, args.fp32, styles)
        text = json.dumps(figures, indent=1)
    else:
        figures = speed(args.old, args.new, args.repeats)
        text = "\n".join(_speed_md(figures))
    figures["seconds"] = round(time.monotonic() - start, 1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
