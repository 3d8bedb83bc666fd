"""Native stderr capture: what LiteRT prints while probing the GPU becomes the fallback reason."""

from __future__ import annotations

import logging
import os

import pytest

from streamer.inference.backends import _native_failure
from streamer.inference.runtime import native_logs_captured


def test_lines_are_captured_and_logged_even_when_the_block_raises(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAMER_NATIVE_LOGS", raising=False)
    caplog.set_level(logging.DEBUG, logger="streamer.inference.runtime")
    with pytest.raises(RuntimeError):
        with native_logs_captured() as lines:
            os.write(2, b"ERROR: [delegate.cc:1] no adapter\n")
            raise RuntimeError("boom")
    assert lines == ["ERROR: [delegate.cc:1] no adapter"]
    assert "native: ERROR: [delegate.cc:1] no adapter" in caplog.text


def test_a_nested_block_gets_the_lines_written_while_it_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMER_NATIVE_LOGS", raising=False)
    with native_logs_captured() as outer:
        os.write(2, b"before\n")
        with native_logs_captured() as inner:
            os.write(2, b"inside\n")
        assert inner == ["inside"]
        os.write(2, b"after\n")
    assert outer == ["before", "inside", "after"]


def test_native_failure_picks_the_first_error_message() -> None:
    lines = [
        "INFO: [environment.cc:36] Creating LiteRT environment with options",
        "WARNING: [compiler_plugin.cc:312] Failed to load plugin with error: ERROR: [x.cc:259]",
        "ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found",
        "ERROR: [other.cc:1] later",
    ]
    reason = _native_failure(lines)
    assert reason is not None
    assert reason.startswith("Failed to initialize WebGPU environment: INTERNAL: No adapters found")
    assert "libvulkan.so.1" in reason
    assert _native_failure(["INFO: [a.cc:1] fine", "ERROR: [b.cc:2] "]) is None
