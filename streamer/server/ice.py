"""Which addresses a peer connection offers as ICE host candidates.

aioice gathers a host candidate on every interface address except loopback (it drops 127.0.0.1
and ::1), so a server on a machine with only loopback (an offline laptop, ``docker --network
none``, a CI sandbox) offers no candidate at all and no call ever connects. This module lets a
peer connection gather on chosen addresses instead:

.. code-block:: python

    with host_candidates(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createAnswer())  # candidates are gathered here

The choice is held in a context variable, so it applies to the gathering that runs inside the
block (aiortc gathers in tasks started from it, which copy the context) and to nothing else:
other peer connections in the process keep aioice's default. aioice has no option for this; the
one hook is its module-level ``get_host_addresses``, wrapped once here (a peer connection
outside any block calls the original).
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import Iterable, Iterator

from ..errors import ConfigError

__all__ = ["check_bindable", "host_candidates", "is_loopback_address", "parse_ice_host"]

_CHOSEN: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "streamer_ice_host_addresses", default=None)


def _install() -> None:
    import aioice.ice

    original = aioice.ice.get_host_addresses
    if getattr(original, "streamer_hook", False):
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = _CHOSEN.get()
        if chosen is None:
            return original(use_ipv4, use_ipv6)
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    get_host_addresses.streamer_hook = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses


@contextlib.contextmanager
def host_candidates(addresses: Iterable[str] | None) -> Iterator[None]:
    """Gather ICE host candidates on ``addresses`` only, inside the block.

    ``None`` keeps aioice's default (every non-loopback interface address).
    """
    if addresses is None:
        yield
        return
    _install()
    token = _CHOSEN.set(tuple(addresses))
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def parse_ice_host(text: str) -> str:
    """An ``--ice-host`` value: an IPv4 or IPv6 address (brackets allowed), normalised.

    :raises ConfigError: not an IP address.
    """
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise ConfigError(f"--ice-host needs an IP address of this machine, not {text!r}") from None


def is_loopback_address(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_bindable(addresses: Iterable[str]) -> None:
    """Refuse addresses this machine cannot receive UDP on (a typo, another machine's address).

    :raises ConfigError: naming the address and the system's reason.
    """
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.bind((address, 0))
        except OSError as exc:
            raise ConfigError(f"--ice-host {address}: cannot receive on this address here "
                              f"({exc.strerror or exc}); give an address of this machine") from None
