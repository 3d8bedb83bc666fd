"""Runs each test of ``tensorflow_checks.py`` (the training code: networks, losses, tiny training
runs, the feature net) in its own interpreter: TensorFlow next to aiortc's pylibsrtp in one
process crashes it (conflicting bundled native libraries), and the main test run shares one."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).with_name("tensorflow_checks.py")
# Whole (tiny) trainings and exports: a minute or more each.
SLOW = {
    "test_tiny_run_when_trained_then_writes_weights_and_exports",
    "test_tiny_run_when_restarted_then_resumes_from_checkpoint",
}


def _check_names() -> list[str]:
    tree = ast.parse(CHECKS.read_text())
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="training needs the 'train' extra (tensorflow)"
)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in _check_names()])
@pytest.mark.timeout(1500)
def test_tensorflow_check_when_run_in_its_own_interpreter_then_passes(name: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "", f"{CHECKS}::{name}"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1400)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    if not lines or "passed" not in lines[-1]:  # skipped inside (e.g. no shared data): say why
        pytest.skip(next((line for line in lines if line.startswith("SKIPPED")), f"{name}: not run"))
