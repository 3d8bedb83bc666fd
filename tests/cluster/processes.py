"""Ray's processes seen from /proc (Linux): the tree under a driver, where it listens (to check
Ray stays on loopback), the workers running a chunk now.

No pytest or environment changes here: a subprocess imports it to look at its own Ray.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["chunk_processes", "descendants", "listening_addresses", "not_loopback"]

_LISTEN = "0A"
#: Ray titles a worker process after the task it runs
CHUNK_TASK = b"ray::run_chunk"


def _each_process(name: str) -> Iterator[tuple[int, bytes]]:
    """Process id and the content of ``/proc/<pid>/<name>`` of every process still there."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / name).read_bytes()
            except OSError:
                continue


def chunk_processes() -> list[int]:
    """Process ids of Ray workers running a chunk now."""
    return [pid for pid, cmdline in _each_process("cmdline") if cmdline.startswith(CHUNK_TASK)]


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, stat in _each_process("stat"):
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)  # /proc/net/tcp*: 32-bit words in host (little-endian) order
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def listening_addresses(pids: set[int]) -> set[str]:
    """``address:port`` of every TCP socket that ``pids`` listen on."""
    inodes = _socket_inodes(pids)
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and fields[9] in inodes:
                host, port = fields[1].split(":")
                found.add(f"{_address(host)}:{int(port, 16)}")
    return found


def not_loopback(addresses: set[str]) -> list[str]:
    """The addresses that are not loopback (``::ffff:127.0.0.1`` counts as loopback)."""
    bad = []
    for text in addresses:
        address = ipaddress.ip_address(text.rsplit(":", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
            bad.append(text)
    return sorted(bad)
