"""``streamer convert --ray ray://host:port`` end to end: a Ray head started with ``ray start`` on
127.0.0.1 with its Ray Client server, and a driver that joins it through Ray Client."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..media import leftovers, make_clip
from .conftest import convert, decoded
from .processes import chunk_processes, descendants, listening_addresses, not_loopback

pytestmark = pytest.mark.slow

#: the ports ``ray start --head`` would otherwise take fixed (6379, 10001, 52365...) or pick itself
_PORTS = ("port", "ray-client-server-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
          "runtime-env-agent-port", "metrics-export-port", "object-manager-port", "node-manager-port")
#: `ray start` gives a node 30 s to register; on a loaded machine one more try
_START_TRIES = 2


def _free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """A distinct port chosen by the OS for each of ``names`` (all held open while choosing)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in names]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return {name: int(probe.getsockname()[1]) for name, probe in zip(names, probes, strict=True)}


def _start_head(folder: Path, env: dict[str, str], ports: dict[str, int]) -> subprocess.Popen[bytes] | None:
    """``ray start --head --block`` (it stops what it started when terminated); None if the node
    did not come up."""
    ray = Path(sys.executable).with_name("ray")
    log = folder / "head.log"
    command = [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
               "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(folder / "ray"),
               *(item for name, port in ports.items() for item in (f"--{name}", str(port)))]
    with log.open("wb") as out:
        head = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and head.poll() is None:
        if b"Ray runtime started" in log.read_bytes():
            return head
        time.sleep(0.5)
    _stop_head(head)
    return None


def _stop_head(head: subprocess.Popen[bytes]) -> None:
    """Terminate the head's ``ray start --block`` (only the processes it started end; ``ray stop``
    would end every Ray on the machine)."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head on 127.0.0.1 only, with a Ray Client server, in a temp dir of its own, with
    token authentication on its own token: its ``ray://`` address and the environment a driver
    needs to join it (Ray 2.x refuses a Ray Client without the cluster's token)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'streamer-nst[ray]')")
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"rh{secrets.token_hex(3)}"  # Ray's socket paths stay short
    folder.mkdir()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_agent_register_timeout_ms": "180000",  # the node's agents start slowly on a loaded machine
           # with gRPC's fork support on (grpcio's default), the process Ray Client's proxy spawns for each
           # driver dies at once and the driver reads "Initialization failure from server"
           "GRPC_ENABLE_FORK_SUPPORT": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    head = None
    for _ in range(_START_TRIES):
        ports = _free_ports(_PORTS)
        head = _start_head(folder, env, ports)
        if head is not None:
            break
    if head is None:
        pytest.fail(f"ray start --head did not come up: {(folder / 'head.log').read_text()[-2000:]}")
    try:
        listening = listening_addresses(descendants(head.pid))
        assert listening and not not_loopback(listening), f"the head listens on {sorted(listening)}"
        yield f"ray://127.0.0.1:{ports['ray-client-server-port']}", env
    finally:
        _stop_head(head)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_convert_ray_when_joining_through_ray_client_equals_single_process(
        ray_head: tuple[str, dict[str, str]], style: list[str], tmp_path: Path) -> None:
    address, env = ray_head
    source = make_clip(tmp_path / "in.mp4", frames=40, fps=10, keyframe_every=10, audio="aac")
    single, joined = tmp_path / "single.mp4", tmp_path / "ray.mp4"
    assert convert(source, "-o", single, *style) == 0
    # a driver process of its own, as a laptop's `streamer convert ... --ray ray://head:10001`
    done = subprocess.run(
        [sys.executable, "-m", "streamer", "convert", str(source), "-o", str(joined), *style, "--no-progress",
         "--size", "96", "--crf", "0", "--chunk-seconds", "1", "--ray", address],
        capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(40 frames" in done.stdout and "streamer: worker " in done.stderr
    assert decoded(joined).same_as(decoded(single))
    assert not leftovers(tmp_path) and not chunk_processes()
