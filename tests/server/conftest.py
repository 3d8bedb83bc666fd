"""Fixtures of the server tests: which model runs, and aiortc's chatty loggers kept quiet."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
pytest.importorskip("aiohttp", reason="the webrtc extra (aiohttp) is not installed")


@pytest.fixture(autouse=True)
def _quiet_ice() -> None:
    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture
def model(any_model: str) -> str:
    """The model set the server runs (the bundled real-time model if built, else Magenta's)."""
    return any_model
