"""Shipping a model set's transform files to workers (through Ray's object store, no download)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..inference.catalog import ModelSet

__all__ = ["ModelPackage"]


@dataclass(frozen=True)
class ModelPackage:
    """The files of one model set a worker runs: the transforms, and the style predictor (for
    the content's own embedding at strength below 1; style images are embedded by the driver).

    :param files: file name -> bytes.
    :param transforms: precision (``int8``/``fp16``) -> file name.
    :param predictor: the predictor's file name, if the set has one.
    """

    name: str
    size_multiple: int
    files: dict[str, bytes]
    transforms: dict[str, str]
    predictor: str | None = None

    @classmethod
    def of(cls, model_set: ModelSet) -> ModelPackage:
        """Read the files of ``model_set``."""
        transforms = {precision.value: path.name for precision, path in model_set.transforms.items()}
        paths = list(model_set.transforms.values())
        if model_set.predictor is not None:
            paths.append(model_set.predictor)
        files = {path.name: path.read_bytes() for path in paths}
        predictor = model_set.predictor.name if model_set.predictor is not None else None
        return cls(model_set.name, model_set.size_multiple, files, transforms, predictor)

    @property
    def digest(self) -> str:
        """Content hash: equal packages install into the same folder."""
        h = hashlib.sha256(self.name.encode())
        for name in sorted(self.files):
            h.update(name.encode())
            h.update(hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()[:20]

    def install(self, root: Path | None = None) -> Path:
        """Write the files and a ``manifest.json`` once per machine; return the folder.

        The folder (under the temp dir, named by :attr:`digest`) is reused by every worker of
        the machine and by later jobs with the same models.
        """
        base = root or Path(tempfile.gettempdir()) / "streamer-models"
        target = base / self.digest
        if (target / "manifest.json").is_file():
            return target
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".install-", dir=base))
        try:
            for name, data in self.files.items():
                (staging / name).write_bytes(data)
            entry = {"transform": self.transforms, "size_multiple": self.size_multiple,
                     "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in self.files.items()}}
            if self.predictor is not None:
                entry["predictor"] = self.predictor
            manifest = {"format": 1, "default": self.name, "models": {self.name: entry}}
            (staging / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            os.replace(staging, target)
        except OSError:
            if not (target / "manifest.json").is_file():  # not another worker winning the race
                raise
        finally:
            if staging.exists():
                for leftover in staging.iterdir():
                    leftover.unlink()
                staging.rmdir()
        return target
