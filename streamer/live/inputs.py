"""Where run-time commands come from: single key presses in the terminal, and POSIX signals.

Both run on the event loop (``loop.add_reader`` / ``loop.add_signal_handler``), so no thread is
needed; each turns its input into a :class:`~streamer.live.controls.Command` for ``on_command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .controls import KEYS, Command

__all__ = ["SIGNALS", "SignalCommands", "TerminalKeys"]

logger = logging.getLogger(__name__)

#: signal -> command (SIGINT twice: the second one quits at once)
SIGNALS: dict[str, Command] = {
    "SIGUSR1": Command.NEXT_STYLE,
    "SIGUSR2": Command.WEAKER_WRAP,
    "SIGINT": Command.STOP,
    "SIGTERM": Command.STOP,
}


class TerminalKeys:
    """Reads single key presses from a terminal (no Enter needed) while a session runs.

    Does nothing unless ``stream`` is a TTY; the terminal's mode is restored by :meth:`close`.
    """

    def __init__(self, on_command: Callable[[Command], None], stream: TextIO | None = None) -> None:
        self._on_command = on_command
        self._stream = stream or sys.stdin
        self._loop: asyncio.AbstractEventLoop | None = None
        self._saved: Any = None
        self._fd = -1

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start listening; False if there is no terminal to listen to."""
        try:
            import termios
            import tty

            fd = self._stream.fileno()
            if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
                return False  # no terminal, or running in the background (reading would stop us)
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except (ImportError, OSError, ValueError, AttributeError):
            return False
        self._fd, self._loop = fd, loop
        loop.add_reader(fd, self._read)
        return True

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 64)
        except OSError:
            return
        for char in data.decode(errors="ignore"):
            command = KEYS.get(char.lower())
            if command is not None:
                self._on_command(command)

    def close(self) -> None:
        """Stop listening and restore the terminal. Idempotent."""
        if self._loop is None:
            return
        import termios

        self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._loop = None


class SignalCommands:
    """Maps POSIX signals to commands (:data:`SIGNALS`) for the life of a session.

    The first SIGINT asks for a clean stop; a second one restores Python's default handler, so
    a third press interrupts at once.
    """

    def __init__(self, on_command: Callable[[Command], None]) -> None:
        self._on_command = on_command
        self._loop: asyncio.AbstractEventLoop | None = None
        self._installed: list[signal.Signals] = []
        self._interrupts = 0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the handlers (signals this platform lacks are skipped)."""
        self._loop = loop
        for name, command in SIGNALS.items():
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self._handle, sig, command)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # no signal support here (Windows, or not the main thread)
            self._installed.append(sig)

    def _handle(self, sig: signal.Signals, command: Command) -> None:
        if sig == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts == 2 and self._loop is not None:
                logger.warning("still stopping; press Ctrl-C again to quit at once "
                               "(a recording would not be finalized)")
                self._loop.remove_signal_handler(sig)
                self._installed.remove(sig)
        self._on_command(command)

    def uninstall(self) -> None:
        """Remove the handlers. Idempotent."""
        if self._loop is not None:
            for sig in self._installed:
                self._loop.remove_signal_handler(sig)
        self._installed.clear()
        self._loop = None
