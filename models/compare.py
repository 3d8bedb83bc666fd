"""Quick comparison of trained transform weights on a subset of the held-out evaluation.

Usage (from the repository root)::

    python -m models.compare transform finetune_a finetune_b --contents 12 --int8

Each name is ``models/work/<config>/<name>.weights.h5`` (or a checkpoint directory
``ckpt_<name>``), run as a float Keras model at 384x384 on the first ``--contents`` val photos
and all held-out styles, with the metrics of :func:`models.evaluate.quality` (Magenta fp16 as the
reference: style/content distance, colour spread and grid peak ratios, each as the mean and the
worst over styles); ``--release`` adds the shipped transforms; ``--steadiness`` adds a quick
warping-error and flicker check (:func:`models.evaluate.steadiness_figures` with ``quick``).
``--int8`` also converts each to int8 (the release recipe) and reports its PSNR/SSIM to the
float model and its own quality row. Prints markdown tables and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models import catalogue, evaluate, metrics
from models.architecture import build_predictor, build_transform
from models.config import CONFIGS, Config, transform_spec, with_overrides, work_dir
from models.imaging import load_rgb
from models.litert import Predictor, Transform
from models.paths import RELEASE_DIR
from models.teacher import Teacher
from models.train import restore

log = logging.getLogger(__name__)


def _keras_stylizer(model: Any) -> evaluate.Stylizer:
    def stylize(image: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return np.asarray(model([image[None], embedding.reshape(1, 1, 1, 100)], training=False))[0]

    return stylize


def _keras_predictor(config: Config, work: Path, name: str) -> Callable[[np.ndarray], np.ndarray]:
    model = build_predictor(config.predictor)
    restore(model, work, name)
    return lambda style: np.asarray(model(style.reshape(1, 256, 256, 3), training=False))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="weights names (see above)")
    parser.add_argument("--release", action="store_true",
                        help="also run the shipped transforms of models/release (release_fp16, release_int8)")
    parser.add_argument(
        "--steadiness",
        action="store_true",
        help="also warping error (one run of 8 frames per shared clip) and flicker (2 stills), 2 styles",
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--work", type=Path, help="work directory root (default models/work)")
    parser.add_argument("--contents", type=int, default=12)
    parser.add_argument("--int8", action="store_true")
    parser.add_argument("--out", type=Path, help="JSON output (default <work>/compare.json)")
    parser.add_argument("--predictor", metavar="NAME",
                        help="also run each transform (and Magenta) with the embedding of predictor weights NAME")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as for training (e.g. finetune_decoder_blocks=2,2)")
    args = parser.parse_args(argv)
    if not args.names and not args.release:
        parser.error("give weights names, --release, or both")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = with_overrides(CONFIGS[args.config], args.set)
    except ValueError as error:
        parser.error(str(error))
    work = work_dir(config, args.work)
    candidates = [evaluate.Candidate("magenta_fp16", evaluate.magenta_stylizer("fp16"))]
    models = {}
    for name in args.names:
        model = build_transform(transform_spec(config, "transform" if name == "transform" else "finetune"))
        restore(model, work, name)
        models[name] = model
        candidates.append(evaluate.Candidate(name, _keras_stylizer(model)))
    if args.release:
        for kind, transform in evaluate.release_transforms().items():
            candidates.append(evaluate.Candidate(f"release_{kind}", evaluate.single_stylizer(transform)))
    if args.int8:
        from models.convert import to_tflite
        from models.export import representative_transform

        for name, model in models.items():
            int8 = Transform(to_tflite(model, "int8", representative_transform(work)))
            candidates.append(evaluate.Candidate(f"{name}_int8", evaluate.single_stylizer(int8)))
    contents = catalogue.content_images("val")[: args.contents]
    styles = list(catalogue.HELD_OUT_STYLES)
    predictor: Any = Predictor(RELEASE_DIR / "predictor.tflite")
    if args.predictor:
        predictor = _keras_predictor(config, work, args.predictor)
        candidates += [evaluate.Candidate(f"{c.name}+{args.predictor}", c.stylize, "ours") for c in list(candidates)]
    rows = evaluate.quality(candidates, predictor, contents, styles)
    if args.int8:
        teacher, by_name = Teacher(), {c.name: c for c in candidates}
        for name in models:
            psnr, ssim = [], []
            for style in styles:
                embedding = teacher.embed_image(load_rgb(catalogue.style_dir() / style))
                for path in contents[:6]:
                    content = evaluate.content_square(path)
                    reference = by_name[name].stylize(content, embedding)
                    output = by_name[f"{name}_int8"].stylize(content, embedding)
                    psnr.append(metrics.psnr(output, reference))
                    ssim.append(metrics.ssim(output, reference))
            rows[f"{name}_int8"].update(int8_psnr=float(np.mean(psnr)), int8_ssim=float(np.mean(ssim)))
    if args.predictor:
        agreement = evaluate.predictor_agreement({args.predictor: predictor})[args.predictor]
        keys = ("held_out_mean", "held_out_centred")
        rows[f"cosine_{args.predictor}"] = {k: float(v) for k in keys if (v := agreement[k]) is not None}
    out = args.out or work / "compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    if args.steadiness:
        ours = {c.name: c.stylize for c in candidates if c.predictor == "teacher" and c.name != "magenta_fp16"}
        stills = [evaluate.content_square(path) for path in contents[:2]]
        steady = evaluate.steadiness_figures(ours, stills, quick=True)
        out.with_name(f"{out.stem}_steadiness.json").write_text(json.dumps(steady, indent=1) + "\n")
    quality_rows = {name: row for name, row in rows.items() if not name.startswith("cosine_")}
    title = f"{len(contents)} val photos x {len(styles)} held-out styles, {evaluate.EVAL_SIZE}x{evaluate.EVAL_SIZE}"
    print("\n".join(evaluate.quality_md(title, quality_rows)))
    for name, row in rows.items():
        if name.startswith("cosine_"):
            print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        elif "int8_psnr" in row:
            print(f"{name}: int8 vs float PSNR {row['int8_psnr']:.2f} dB, SSIM {row['int8_ssim']:.4f}")
    if args.steadiness:
        print("\n".join(evaluate.steadiness_md(steady)))


if __name__ == "__main__":
    main()
