"""streamer/cluster/connect.py: the private Ray instance's options (no Ray needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.cluster.connect import private_instance_options
from streamer.errors import ConfigError

from ..media import make_clip


def test_private_instance_options_when_no_setting_runs_workers_at_the_command_s_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    options = private_instance_options(2)
    assert options["_system_config"]["worker_niceness"] == 0
    assert options["num_cpus"] == 2 and options["_node_ip_address"] == "127.0.0.1"


def test_private_instance_options_when_niceness_set_keeps_it_within_0_to_19(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_worker_niceness", "7")
    assert private_instance_options()["_system_config"]["worker_niceness"] == 7
    monkeypatch.setenv("RAY_worker_niceness", "40")
    assert private_instance_options()["_system_config"]["worker_niceness"] == 19


def test_private_instance_options_when_niceness_is_not_a_number_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_worker_niceness", "high")
    with pytest.raises(ConfigError, match=r"RAY_worker_niceness must be a number from 0 to 19, not 'high'"):
        private_instance_options()


def test_convert_ray_when_worker_niceness_is_not_a_number_gives_one_line_before_ray_starts(
    tmp_path: Path, style: list[str]
) -> None:
    # Importing Ray with such a value crashes the process (SIGSEGV): the check must come first.
    source = make_clip(tmp_path / "in.mp4", frames=2)
    out = tmp_path / "out.mp4"
    result = subprocess.run([sys.executable, "-m", "streamer", "convert", str(source), "-o", str(out),
                             *style, "--backend", "cpu", "--ray", "--no-progress"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RAY_worker_niceness": "high"})
    assert result.returncode not in (0, -11), result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("streamer") and "RAY_worker_niceness must be a number" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
