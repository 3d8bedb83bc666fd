"""One command for the whole release: teacher targets, training, export, evaluation.

Training is the transform (distillation, with the temporal terms), then its fine-tune with texture
(Gram) terms toward the teacher's output and the style image on the float MobileNetV2 copy
(:mod:`models.feature_net`, :mod:`models.losses`), then the predictor; the release ships the
fine-tuned transform.

Usage (from the repository root, with the ``train`` extra installed and ../shared present)::

    nice -n 10 python -m models.build_release          # ~3.5 h on 2 shared CPU cores (v2); resumable

Each stage resumes from ``models/work/full`` when interrupted; rerunning after completion
only re-exports and re-evaluates.
"""

from __future__ import annotations

import argparse
import logging

import tensorflow as tf

from models import evaluate, export, train
from models.config import CONFIGS, work_dir


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full")
    parser.add_argument("--skip-eval", action="store_true", help="stop after writing the release")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    config = CONFIGS[args.config]
    work = work_dir(config)
    train.train(config, work)
    export.write_release(config, export.export_models(config, work, work / "export"))
    if not args.skip_eval:
        evaluate.main(["--config", args.config])


if __name__ == "__main__":
    main()
