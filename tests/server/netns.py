"""Run a command inside a network namespace of its own, with nothing but ``lo`` up.

This is how a laptop without network, ``docker --network none`` or a CI sandbox looks to the
server: no interface but loopback. Needs ``unshare`` and ``ip`` (util-linux, iproute2) and either
root or unprivileged user namespaces.
"""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess

__all__ = ["loopback_only", "loopback_only_host"]


def loopback_only_host() -> bool:
    """True when this process sees no network interface but ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@functools.cache
def _prefix() -> tuple[str, ...] | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for unshare in (("unshare", "--net"), ("unshare", "--map-root-user", "--net")):
        probe = subprocess.run([*unshare, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return unshare
    return None


def loopback_only(argv: list[str]) -> list[str] | None:
    """``argv`` wrapped to run in a fresh network namespace with ``lo`` up; ``None`` when this
    machine cannot create one (no root and no user namespaces, or the tools are missing)."""
    prefix = _prefix()
    if prefix is None:
        return None
    return [*prefix, "sh", "-c", 'ip link set lo up && exec "$@"', "loopback-only", *argv]
