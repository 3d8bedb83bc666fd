"""Finding model sets: the bundled models, Magenta's reference files, or any directory.

A *model set* is a style predictor plus a style transform in one or two precisions (``int8``
for the CPU, ``fp16`` for the GPU). A set is found by

* name, in the bundled ``manifest.json`` (``fast``, ...; the manifest names the default);
* ``magenta``: the reference files in ``$STREAMER_MAGENTA_DIR`` or ``../shared/models/magenta``
  next to a source checkout (they are never shipped);
* a directory path holding either a ``manifest.json`` or a Magenta-compatible file pair.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Precision
from ..errors import ModelError
from .modelfile import PredictorModel, TransformModel, file_sha256

__all__ = [
    "MAGENTA",
    "ModelSet",
    "available_model_sets",
    "bundled_dir",
    "find_model_set",
    "magenta_dir",
    "shared_dir",
]

MAGENTA = "magenta"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_SOURCE_ROOT = _PACKAGE_DIR.parent


@dataclass(frozen=True)
class ModelSet:
    """Files of one predictor + transform family and how to run them."""

    name: str
    directory: Path
    transforms: dict[Precision, Path]
    predictor: Path | None
    size_multiple: int = 4
    description: str = ""
    sha256: dict[str, str] = field(default_factory=dict)
    styles_file: Path | None = None

    def transform_path(self, precision: Precision) -> Path:
        """Path of the transform file in ``precision`` (:raises ModelError: if there is none)."""
        try:
            return self.transforms[precision]
        except KeyError:
            have = ", ".join(p.value for p in self.transforms) or "none"
            raise ModelError(f"model {self.name!r} has no {precision.value} transform (has: {have})") from None

    def expected_sha256(self, path: Path) -> str | None:
        """The checksum the manifest records for ``path``, if any."""
        return self.sha256.get(path.name)

    def load_transform(self, precision: Precision) -> TransformModel:
        """Read and check the transform in ``precision`` against the manifest's checksum.

        :raises ModelError: there is none, or the file is missing, corrupt or not a transform.
        """
        path = self.transform_path(precision)
        return TransformModel.load(path, precision, self.expected_sha256(path))

    def load_predictor(self) -> PredictorModel | None:
        """Read and check the style predictor (None if the set has none).

        :raises ModelError: the file is missing, corrupt or not a predictor.
        """
        if self.predictor is None:
            return None
        return PredictorModel.load(self.predictor, self.expected_sha256(self.predictor))

    def predictor_sha256(self) -> str | None:
        """The predictor's checksum (the manifest's, else computed), None without a predictor file."""
        if self.predictor is None or not self.predictor.is_file():
            return None
        return self.expected_sha256(self.predictor) or file_sha256(self.predictor)


def bundled_dir() -> Path | None:
    """Directory of the bundled models: package data when installed, ``models/release`` in a checkout."""
    for candidate in (_PACKAGE_DIR / "bundled", _SOURCE_ROOT / "models" / "release"):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def shared_dir() -> Path | None:
    """The optional reference-data directory (``$STREAMER_SHARED_DIR`` or ``../shared``)."""
    env = os.environ.get("STREAMER_SHARED_DIR")
    candidate = Path(env) if env else _SOURCE_ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None


def magenta_dir() -> Path | None:
    """Directory holding Magenta's reference models, if present on this machine."""
    env = os.environ.get("STREAMER_MAGENTA_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    shared = shared_dir()
    if shared and (shared / "models" / "magenta").is_dir():
        return shared / "models" / "magenta"
    return None


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ModelError(f"{path} has no 'models' table")
    return manifest


def _from_manifest(directory: Path, name: str, manifest: dict[str, Any]) -> ModelSet:
    entry = manifest["models"][name]
    try:
        transforms = {Precision(k): directory / v for k, v in entry["transform"].items()}
        predictor = directory / entry["predictor"] if entry.get("predictor") else None
        styles = directory / manifest["styles"] if manifest.get("styles") else None
        return ModelSet(
            name=name,
            directory=directory,
            transforms=transforms,
            predictor=predictor,
            size_multiple=int(entry.get("size_multiple", 4)),
            description=str(entry.get("description", "")),
            sha256=dict(entry.get("sha256", {})),
            styles_file=styles,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{directory / 'manifest.json'}: bad entry for {name!r}: {exc}") from exc


def _magenta_like(directory: Path, name: str) -> ModelSet | None:
    def first(pattern: str) -> Path | None:
        matches = sorted(directory.glob(pattern))
        return matches[0] if matches else None

    transforms = {
        p: f for p, f in ((Precision.INT8, first("*int8*transfer*.tflite")),
                          (Precision.FP16, first("*fp16*transfer*.tflite"))) if f is not None
    }
    if not transforms:
        return None
    bundled = bundled_dir()
    styles = bundled / "styles.json" if bundled and (bundled / "styles.json").is_file() else None
    return ModelSet(
        name=name,
        directory=directory,
        transforms=transforms,
        predictor=first("*predict*.tflite"),
        size_multiple=4,
        description="Magenta arbitrary image stylization v1-256 (reference)",
        styles_file=styles,
    )


def available_model_sets() -> list[ModelSet]:
    """Every model set found on this machine: bundled ones first, then Magenta's."""
    sets: list[ModelSet] = []
    bundled = bundled_dir()
    if bundled is not None:
        manifest = _read_manifest(bundled)
        sets.extend(_from_manifest(bundled, name, manifest) for name in manifest["models"])
    magenta = magenta_dir()
    if magenta is not None:
        found = _magenta_like(magenta, MAGENTA)
        if found is not None:
            sets.append(found)
    return sets


def default_model_name() -> str:
    """Name of the model set used when none is given."""
    bundled = bundled_dir()
    if bundled is not None:
        manifest = _read_manifest(bundled)
        return str(manifest.get("default") or next(iter(manifest["models"])))
    return MAGENTA


def find_model_set(spec: str | os.PathLike[str] | None = None) -> ModelSet:
    """Resolve a model name or directory into a :class:`ModelSet`.

    :raises ModelError: nothing matches, with the names that would.
    """
    text = os.fspath(spec) if spec is not None else default_model_name()
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "manifest.json").is_file():
            manifest = _read_manifest(path)
            return _from_manifest(path, str(manifest.get("default") or next(iter(manifest["models"]))), manifest)
        found = _magenta_like(path, path.name)
        if found is None:
            raise ModelError(f"{path} holds no manifest.json and no *int8*transfer*/*fp16*transfer* .tflite files")
        return found
    for model_set in available_model_sets():
        if model_set.name == text:
            return model_set
    names = ", ".join(s.name for s in available_model_sets()) or "none found"
    if text == MAGENTA:
        raise ModelError("Magenta's reference models are not on this machine: set STREAMER_MAGENTA_DIR "
                         f"or pass --model DIR (available: {names})")
    raise ModelError(f"unknown model {text!r} (available: {names}; or pass a directory)")
