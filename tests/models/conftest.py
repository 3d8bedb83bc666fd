"""Fixtures for the model tests: the release directory and the optional shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.paths import RELEASE_DIR, shared_dir


@pytest.fixture(scope="session")
def release() -> Path:
    """The committed release directory."""
    if not (RELEASE_DIR / "manifest.json").exists():
        pytest.skip("models/release/manifest.json not built yet (python -m models.build_release)")
    return RELEASE_DIR


@pytest.fixture(scope="session")
def manifest(release: Path) -> dict:
    """The parsed manifest."""
    return json.loads((release / "manifest.json").read_text())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory (teacher models, media); skips when absent."""
    path = shared_dir()
    if not (path / "models" / "magenta").is_dir():
        pytest.skip(f"shared data not found at {path} (set STREAMER_SHARED_DIR)")
    return path
