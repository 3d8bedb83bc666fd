"""Locations of the repository, the shared data directory and the generated files."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
RELEASE_DIR = MODELS_DIR / "release"
CARDS_DIR = MODELS_DIR / "cards"
WORK_DIR = MODELS_DIR / "work"

MAGENTA_PREFIX = "magenta/magenta_arbitrary-image-stylization-v1-256_"


class SharedDataMissing(RuntimeError):
    """The shared directory (teacher models, media) is not available on this machine."""


def shared_dir() -> Path:
    """Return ``$STREAMER_SHARED_DIR`` if set, else ``<repo>/../shared`` (may not exist)."""
    env = os.environ.get("STREAMER_SHARED_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def require_shared(relative: str = "") -> Path:
    """Return a path inside the shared directory, raising :class:`SharedDataMissing` if absent."""
    path = shared_dir() / relative
    if not path.exists():
        raise SharedDataMissing(f"{path} not found (set STREAMER_SHARED_DIR or provide ../shared)")
    return path


def shared_model(name: str) -> Path:
    """Path of a shared model: ``int8_transfer``, ``fp16_transfer``, ``int8_prediction``, ``backbone``."""
    if name == "backbone":
        return require_shared("models/backbone/mobilenet_v2_1.0_224_quant.tflite")
    return require_shared(f"models/{MAGENTA_PREFIX}{name}_1.tflite")
