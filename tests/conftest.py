"""Shared fixtures: reference data, model choice, generated media, leak checks."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.inference.catalog import bundled_dir, find_model_set, magenta_dir, shared_dir

from .media import make_clip  # noqa: F401 - re-exported for tests


@pytest.fixture(scope="session")
def _session_precision_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CPU-precision decision file for the whole run (measuring int8 vs float once per model)."""
    return tmp_path_factory.mktemp("precision") / "precision.json"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                    _session_precision_cache: Path) -> Path:
    """Never touch the user's cache directory; each test gets its own (but shares the precision file)."""
    path = tmp_path_factory.mktemp("cache")
    (path / "precision.json").symlink_to(_session_precision_cache)
    monkeypatch.setenv("STREAMER_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The optional reference data directory (``../shared``); skips when absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("reference data ../shared is not on this machine (set STREAMER_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def magenta() -> str:
    """The Magenta reference model set; skips when its files are absent."""
    if magenta_dir() is None:
        pytest.skip("Magenta reference models (../shared/models/magenta) are not on this machine")
    return "magenta"


def _bundled_names() -> list[str]:
    import json

    directory = bundled_dir()
    if directory is None:
        return []
    return list(json.loads((directory / "manifest.json").read_text())["models"])


@pytest.fixture(scope="session")
def fast_model() -> str:
    """The bundled real-time model set; skips when it has not been built."""
    if "fast" not in _bundled_names():
        pytest.skip("bundled model 'fast' not built yet (models/release/manifest.json)")
    return "fast"


@pytest.fixture(scope="session")
def any_model() -> str:
    """A model set that runs here: the bundled default, else Magenta's; skips if neither."""
    names = _bundled_names()
    if names:
        return "fast" if "fast" in names else names[0]
    if magenta_dir() is not None:
        return "magenta"
    pytest.skip("no model set on this machine (neither bundled models nor ../shared)")


@pytest.fixture(scope="session")
def style(any_model: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``convert`` options for a style the model in use paints (its first built-in style, else a
    generated image): ``--model M --style S``."""
    from PIL import Image

    from streamer.styles import load_builtin_styles

    from .media import pattern_frame

    names = load_builtin_styles(find_model_set(any_model).styles_file)
    if names:
        return ["--model", any_model, "--style", next(iter(names))]
    spec = tmp_path_factory.mktemp("style") / "style.png"
    Image.fromarray(pattern_frame(4, 256, 256)).save(spec)
    return ["--model", any_model, "--style", str(spec)]


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fail if the test leaves new non-daemon or streamer threads running."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    import time

    end = time.monotonic() + deadline
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and (not t.daemon or t.name.startswith("streamer"))]
        if not leaked or time.monotonic() > end:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which optional data the run sees."""
    return [
        f"streamer shared data: {shared_dir() or 'absent'}; bundled models: {_bundled_names() or 'none'}",
        f"STREAMER_SHARED_DIR={os.environ.get('STREAMER_SHARED_DIR', '')}",
    ]


@pytest.fixture
def ctrl_c_reaches_children() -> Iterator[None]:
    """Commands started by the test get Ctrl-C as from a terminal, however pytest was started:
    a shell's background job (`cmd &`) runs with SIGINT ignored, and children inherit that."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
