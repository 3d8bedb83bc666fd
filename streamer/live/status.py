"""Showing a live session's numbers: a status line for people, a JSON file for machines."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from .stats import LiveSnapshot, status_line

__all__ = ["StatusPrinter", "write_json_atomic"]


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` so a reader never sees a half-written file."""
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    temp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temp, path)


_CLEAR = "\x1b[K"  # erase to the end of the line


class _ClearStatusLine(logging.Filter):
    """Makes a log message erase the status line it is printed over."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_CLEAR):
            record.msg = _CLEAR + str(record.msg)
        return True


class StatusPrinter:
    """Receives session snapshots; prints the status line and/or writes ``--stats-json``.

    :param stream: where the line goes (stderr). On a terminal it is redrawn in place;
        elsewhere one line is printed per snapshot.
    :param show: print the line (default: only when ``stream`` is a terminal).
    :param stats_json: file rewritten with every snapshot.
    """

    def __init__(self, stream: TextIO | None = None, show: bool | None = None,
                 stats_json: Path | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.show = self.tty if show is None else show
        self.stats_json = stats_json
        self.last: LiveSnapshot | None = None
        self._filter: _ClearStatusLine | None = None
        self._handlers: list[logging.Handler] = []
        if self.show and self.tty:
            self._filter = _ClearStatusLine()
            self._handlers = [h for h in logging.getLogger().handlers
                              if getattr(h, "stream", None) is self.stream]
            for handler in self._handlers:
                handler.addFilter(self._filter)

    def __call__(self, snapshot: LiveSnapshot) -> None:
        self.last = snapshot
        if self.show:
            line = status_line(snapshot)
            if self.tty:  # drawn in place: the cursor goes back to the start of the line
                self.stream.write(_CLEAR + line + "\r")
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        if self.stats_json is not None:
            write_json_atomic(self.stats_json, snapshot.as_dict())

    def finish(self) -> None:
        """Leave the last status line on screen and stop touching log messages."""
        if self.show and self.tty and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()
        for handler in self._handlers:
            if self._filter is not None:
                handler.removeFilter(self._filter)
        self._handlers = []
