"""Export trained weights to the release: int8 + fp16 transforms, predictor, manifest, styles.

Usage (from the repository root)::

    python -m models.export --config full    # reads models/work/full, writes models/release
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from models import catalogue
from models.architecture import build_predictor, build_transform, count_macs
from models.config import CONFIGS, SIZE_MULTIPLE, Config, transform_spec, with_overrides, work_dir
from models.convert import RepresentativeData, to_tflite
from models.data import open_set
from models.imaging import load_rgb
from models.paths import RELEASE_DIR
from models.train import release_part, restore, set_size

log = logging.getLogger(__name__)

TIER = "fast"
FILES = {"int8": "fast_int8.tflite", "fp16": "fast_fp16.tflite", "predictor": "predictor.tflite"}


def load_transform(config: Config, work: Path) -> keras.Model:
    """The trained transform of ``config`` (dynamic input size; fine-tuned when configured)."""
    part = release_part(config)
    model = build_transform(transform_spec(config, part))
    restore(model, work, part)
    return model


def load_predictor(config: Config, work: Path) -> keras.Model:
    """The trained style predictor of ``config``."""
    model = build_predictor(config.predictor)
    restore(model, work, "predictor")
    return model


def representative_transform(
    work: Path, count: int = 256, seed: int = 5, size: int | None = None
) -> RepresentativeData:
    """Calibration data for int8: training crops with their conditioning embeddings, drawn from the
    first ``size`` samples of the transform set (default: all written)."""
    arrays = open_set(work / "transform_set", size)
    total = len(arrays["content"])
    index = np.sort(np.random.default_rng(seed).choice(total, min(count, total), replace=False))
    content, embedding = arrays["content"][index], arrays["embedding"][index]

    def generate() -> Iterator[list[np.ndarray]]:
        for image, vector in zip(content, embedding, strict=True):
            yield [image[None].astype(np.float32) / 255, vector.reshape(1, 1, 1, 100)]

    return generate


def representative_predictor(
    work: Path, count: int = 256, seed: int = 6, size: int | None = None
) -> RepresentativeData:
    """Calibration data for an int8 predictor: training style/photo crops (first ``size`` samples)."""
    images = open_set(work / "predictor_set", size)["image"]
    index = np.sort(np.random.default_rng(seed).choice(len(images), min(count, len(images)), replace=False))

    def generate() -> Iterator[list[np.ndarray]]:
        for image in images[index]:
            yield [image[None].astype(np.float32) / 255]

    return generate


def export_models(config: Config, work: Path, out: Path) -> dict[str, Path]:
    """Convert the trained networks: transform int8/fp16/fp32, predictor fp16/int8/fp32."""
    out.mkdir(parents=True, exist_ok=True)
    transform, predictor = load_transform(config, work), load_predictor(config, work)
    calibration = representative_transform(work, size=set_size(config, "transform_set"))
    predictor_calibration = representative_predictor(work, size=set_size(config, "predictor_set"))
    products = {
        "transform_int8": to_tflite(transform, "int8", calibration),
        "transform_fp16": to_tflite(transform, "fp16"),
        "transform_fp32": to_tflite(transform, "fp32"),
        "predictor_int8": to_tflite(predictor, "int8", predictor_calibration, False),
        "predictor_fp16": to_tflite(predictor, "fp16", dynamic_batch=False),
        "predictor_fp32": to_tflite(predictor, "fp32", dynamic_batch=False),
    }
    paths = {}
    for name, content in products.items():
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(content)
    return paths


def builtin_styles() -> dict[str, object]:
    """``styles.json`` content: teacher embeddings of the built-in style images."""
    from models.teacher import Teacher

    teacher = Teacher()
    styles = {}
    for style in catalogue.BUILTIN_STYLES:
        embedding = teacher.embed_image(load_rgb(catalogue.style_dir() / style.source))
        styles[style.key] = {
            "title": style.title,
            "source": style.source,
            "embedding": [round(float(v), 6) for v in embedding],
        }
    return {"format": 1, "embedding_dim": 100, "styles": styles}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_release(config: Config, exported: dict[str, Path], release: Path = RELEASE_DIR) -> None:
    """Copy the shipped models into ``release`` and write ``manifest.json`` and ``styles.json``."""
    release.mkdir(parents=True, exist_ok=True)
    sources = {"int8": "transform_int8", "fp16": "transform_fp16", "predictor": "predictor_fp16"}
    for key, source in sources.items():
        (release / FILES[key]).write_bytes(exported[source].read_bytes())
    macs = count_macs(build_transform(transform_spec(config, release_part(config)), size=(480, 640)))
    manifest = {
        "format": 1,
        "default": TIER,
        "models": {
            TIER: {
                "description": (
                    "Real-time transform distilled from Magenta's arbitrary stylization"
                    + (" and fine-tuned on texture statistics" if release_part(config) == "finetune" else "")
                    + f" ({macs / 1e9:.2f} GMAC per 640x480 frame); trained by streamer's models/ code."
                ),
                "predictor": FILES["predictor"],
                "transform": {"int8": FILES["int8"], "fp16": FILES["fp16"]},
                "size_multiple": SIZE_MULTIPLE,
                "sha256": {name: sha256(release / name) for name in FILES.values()},
            }
        },
        "styles": "styles.json",
    }
    (release / "styles.json").write_text(json.dumps(builtin_styles(), indent=1, ensure_ascii=False) + "\n")
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("release written to %s", release)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--work", type=Path, help="work directory root (default models/work)")
    parser.add_argument("--release", type=Path, default=RELEASE_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as for training (e.g. finetune_output=shuffle)")
    args = parser.parse_args(argv)
    try:
        config = with_overrides(CONFIGS[args.config], args.set)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work = work_dir(config, args.work)
    exported = export_models(config, work, work / "export")
    write_release(config, exported, args.release)


if __name__ == "__main__":
    main()
