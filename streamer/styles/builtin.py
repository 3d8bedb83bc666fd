"""Built-in styles: pre-computed embeddings shipped with the models (no image or predictor needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..inference.modelfile import EMBEDDING_DIM

__all__ = ["BuiltinStyle", "load_builtin_styles"]


@dataclass(frozen=True)
class BuiltinStyle:
    """A named style and its embedding."""

    name: str
    title: str
    embedding: np.ndarray


def load_builtin_styles(path: Path | None) -> dict[str, BuiltinStyle]:
    """Read a ``styles.json`` file (``{}`` if ``path`` is None).

    :raises ModelError: the file is unreadable or an embedding has the wrong size.
    """
    if path is None:
        return {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))["styles"]
        styles = {}
        for name, entry in table.items():
            embedding = np.asarray(entry["embedding"], dtype=np.float32)
            if embedding.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(embedding)):
                raise ValueError(f"style {name!r} needs {EMBEDDING_DIM} finite values")
            styles[name] = BuiltinStyle(name, str(entry.get("title", name)), embedding)
        return styles
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"cannot read built-in styles from {path}: {exc}") from exc
