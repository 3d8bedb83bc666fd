"""Supervised asyncio tasks: a task that fails is logged and its owner is told, never only logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["spawn_supervised"]

logger = logging.getLogger(__name__)

FailureHandler = Callable[[str, BaseException], None]


def spawn_supervised(coro: Coroutine[Any, Any, Any], name: str, on_failure: FailureHandler,
                     tasks: set[asyncio.Task[Any]] | None = None) -> asyncio.Task[Any]:
    """Run ``coro`` as a task named ``name``; if it raises, log the error and call
    ``on_failure(name, error)`` so the owner can act (stop the run, close the session).

    :param tasks: a set the task stays in while it runs (the owner cancels what is left).
    """
    task = asyncio.ensure_future(coro)
    task.set_name(name)
    if tasks is not None:
        tasks.add(task)

    def finished(done: asyncio.Task[Any]) -> None:
        if tasks is not None:
            tasks.discard(done)
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            logger.error("task %s failed: %s", name, error, exc_info=error)
            on_failure(name, error)

    task.add_done_callback(finished)
    return task
