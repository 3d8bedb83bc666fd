"""Connecting to Ray: a private local instance on loopback, or an existing cluster.

Ray is an optional dependency (the ``ray`` extra); it is imported only here and only when a
cluster conversion starts.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import ClusterError, ConfigError
from ..extras import install_hint

__all__ = ["ADDRESS_ENV", "Cluster", "connect", "import_ray", "parse_address", "private_instance_options"]

#: environment variable with the default ``--ray`` address
ADDRESS_ENV = "STREAMER_RAY_ADDRESS"
LOCAL = "local"
#: Ray's switch (read when ``ray`` is imported) that pins a node's address to loopback
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Ray's switch for token authentication (a Ray Client sends its token only when it is "token")
_AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Ray's setting of the niceness its workers add (its default: 15)
_WORKER_NICENESS_ENV = "RAY_worker_niceness"
_ADDRESS = re.compile(r"^(auto|local|ray://[^\s/]+(:\d+)?|[\w.\-\[\]:]+:\d+)$")

logger = logging.getLogger(__name__)


def import_ray(loopback: bool = False) -> ModuleType:
    """The ``ray`` module, or a one-line :class:`ConfigError` saying how to install it (or that
    ``$RAY_worker_niceness`` is not a number).

    ``loopback``: Ray will run (or is joined) on this machine only. Ray reads that once, when it
    is imported: its node address is then 127.0.0.1 and its servers listen on loopback only
    (else it takes the machine's network address, even for a private instance).
    """
    if loopback:
        os.environ[_LOOPBACK_ENV] = "0"
    _private_worker_niceness()  # checked first: importing Ray crashes (SIGSEGV) on a non-number there
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs Ray, which is not installed: {install_hint('ray')}") from exc
    return ray


def parse_address(text: str | None) -> str | None:
    """The cluster address from ``--ray [ADDRESS]`` (``$STREAMER_RAY_ADDRESS`` when omitted);
    None means a private local instance.

    :raises ConfigError: not ``local``, ``auto``, ``ray://host[:port]`` or ``host:port``.
    """
    value = (text or os.environ.get(ADDRESS_ENV) or LOCAL).strip()
    if not _ADDRESS.match(value):
        raise ConfigError(f"--ray {value}: not a Ray address (local, auto, ray://host:10001 or host:port); "
                          "put --ray after the inputs or write --ray=ADDRESS")
    return None if value == LOCAL else value


@dataclass
class Cluster:
    """A Ray connection this job uses; :meth:`close` shuts down what :func:`connect` started."""

    ray: ModuleType
    owned: bool  #: True when this job started (or connected) Ray and must shut it down
    local: bool  #: True for a private instance on this machine

    def slots(self, cpus: float, gpus: float) -> int:
        """How many workers of ``cpus`` CPUs and ``gpus`` GPUs the cluster holds now (at least 1)."""
        resources = self.ray.cluster_resources()
        fits = [math.floor(resources.get("CPU", 0) / cpus) if cpus > 0 else math.inf,
                math.floor(resources.get("GPU", 0) / gpus) if gpus > 0 else math.inf]
        count = min(fits)
        return max(1, int(count)) if count != math.inf else max(1, int(resources.get("CPU", 1)))

    def check_fits(self, cpus: float, gpus: float) -> None:
        """Refuse worker sizes no node can hold (a local instance cannot grow; a cluster may)."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
            return
        message = f"no Ray node has {cpus:g} CPUs and {gpus:g} GPUs for one worker"
        if self.local:
            raise ConfigError(f"{message}: lower --ray-cpus-per-worker/--ray-gpus-per-worker")
        logger.warning("%s yet; waiting for the cluster to provide one", message)

    def close(self) -> None:
        """Shut Ray down if this job started it. Idempotent."""
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()
        self.owned = False


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: seconds to wait for a cluster's address to answer before saying it cannot be reached
CONNECT_TIMEOUT = 10.0


def _host_port(address: str | None) -> tuple[str, int] | None:
    """Host and port of ``host:port`` or ``ray://host:port``; for ``auto``, of ``$RAY_ADDRESS``
    (where Ray looks first). None if unknown."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS")
    if address is None or address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _check_reachable(address: str, host: str, port: int) -> None:
    """Fail in seconds, with a one-line reason, where Ray would retry for minutes."""
    try:
        socket.create_connection((host.strip("[]"), port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {reason}") from exc


def _private_worker_niceness() -> int:
    """Niceness Ray adds to a private instance's workers: 0, so they run at the command's own
    priority as a single-process conversion does (``$RAY_worker_niceness`` if set).

    Ray's default, 15, makes workers yield to every other busy process: with two CPU-bound
    processes at niceness 10 on a 2-core machine a worker ran at a third of a single-process
    conversion's rate, and at its rate with 0 (benchmarks/README.md).
    """
    value = os.environ.get(_WORKER_NICENESS_ENV, "0")
    try:
        return min(19, max(0, int(value)))
    except ValueError as exc:
        raise ConfigError(f"${_WORKER_NICENESS_ENV} must be a number from 0 to 19, not {value!r}") from exc


def private_instance_options(cpus: int | None = None) -> dict[str, Any]:
    """``ray.init`` options of the private instance ``--ray`` starts (with ``cpus`` CPUs, None:
    the machine's): loopback only, no dashboard, workers at the command's own priority."""
    options: dict[str, Any] = {"include_dashboard": False, "_node_ip_address": "127.0.0.1",
                               "_system_config": {"worker_niceness": _private_worker_niceness()}}
    if cpus is not None:
        options["num_cpus"] = cpus
    return options


def connect(address: str | None, verbose: bool = False) -> Cluster:
    """Start a private Ray instance on 127.0.0.1 (``address`` None) or join ``address``.

    A process already connected to Ray (``ray.init`` called before) uses that connection.
    Usage statistics are never sent. Blocking (starting Ray takes seconds).

    :raises ConfigError: Ray is missing. :raises ClusterError: Ray cannot start or connect.
    """
    host_port = _host_port(address)
    ray = import_ray(loopback=address is None or (host_port is not None and host_port[0] in _LOOPBACK))
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        return Cluster(ray, owned=False, local=address is None)
    options: dict[str, Any] = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR}
    if address is None:
        options.update(private_instance_options())
    else:
        options["address"] = address
        if host_port is not None:
            _check_reachable(address, *host_port)
    try:
        ray.init(**options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = "start a local Ray instance" if address is None else f"connect to the Ray cluster at {address}"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if address is not None and address.startswith("ray://") and _AUTH_MODE_ENV not in os.environ:
            detail += (f" (a cluster with token authentication (recent Ray 2.x turns it on) needs "
                       f"{_AUTH_MODE_ENV}=token and its token in $RAY_AUTH_TOKEN or ~/.ray/auth_token)")
        raise ClusterError(f"cannot {where}: {detail}") from exc
    cluster = Cluster(ray, owned=True, local=address is None)
    if cluster.local and ray.util.get_node_ip_address() not in _LOOPBACK:
        cluster.close()  # ray was imported before this module could pin it to loopback
        raise ClusterError(f"the local Ray instance would use this machine's network address: set "
                           f"{_LOOPBACK_ENV}=0 before Ray is imported")
    return cluster
