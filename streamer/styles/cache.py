"""Style embeddings cached in memory and on disk, keyed by what determines them."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..config import default_cache_dir
from ..inference.modelfile import EMBEDDING_DIM

__all__ = ["EmbeddingCache", "default_cache_dir", "embedding_key"]

logger = logging.getLogger(__name__)


def embedding_key(image_bytes: bytes, predictor_sha256: str, preprocessing_version: int) -> str:
    """Cache key: hash of the image bytes, the predictor file and the preprocessing version."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(image_bytes).digest())
    h.update(predictor_sha256.encode())
    h.update(f"preprocessing-v{preprocessing_version}".encode())
    return h.hexdigest()


class EmbeddingCache:
    """Embeddings by key: a dict in front of ``<directory>/embeddings/<key>.npy``.

    Disk problems (read-only home, full disk, a corrupt entry) are logged and never fatal:
    the embedding is simply recomputed.

    :param directory: cache root; ``None`` keeps the cache in memory only.
    :param memory_entries: most embeddings kept in memory (least recently used go first).
    """

    def __init__(self, directory: Path | None, memory_entries: int = 512) -> None:
        self.directory = directory / "embeddings" if directory is not None else None
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_entries = memory_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        """The cached embedding, or None."""
        found = self._memory.get(key)
        if found is not None:
            self._memory.move_to_end(key)
        elif self.directory is not None:
            found = self._read(self.directory / f"{key}.npy")
            if found is not None:
                self._remember(key, found)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, embedding: np.ndarray) -> None:
        """Store an embedding in memory and (atomically) on disk."""
        embedding = np.asarray(embedding, dtype=np.float32).reshape(EMBEDDING_DIM)
        self._remember(key, embedding)
        if self.directory is None:
            return
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, embedding)
            os.replace(tmp, self.directory / f"{key}.npy")
        except OSError as exc:
            logger.warning("cannot write the style cache in %s: %s", self.directory, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _remember(self, key: str, embedding: np.ndarray) -> None:
        self._memory[key] = embedding
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        try:
            value = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        if value.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(value)):
            logger.warning("ignoring malformed cache entry %s", path)
            return None
        return value.astype(np.float32)
