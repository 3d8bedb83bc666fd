"""The stylizer in a process of its own, at idle CPU priority, for the inference thread to own.

A server's event loop needs a core whenever packets arrive; in one process it shares the GIL
with inference's per-frame numpy work, and lowering the inference thread's priority there only
makes the loop wait for a preempted GIL holder. :class:`ProcessStylizer` runs the interpreters
and the pre/post-processing in a child process instead, whose every thread runs at the lowest
priority (``SCHED_IDLE``, or nice 19): it gets the cores whenever nothing else wants them.

The inference thread stays the one owner: it starts the child, sends it one request at a time
and blocks (GIL released) until the answer. Frames and results travel through one shared
memory block (:class:`SharedArena`, created, grown and unlinked by this side); requests and
answers are small messages on a pipe. Who closes what:

* the child exits when told, when the pipe closes, or (Linux) when the inference thread that
  started it dies, even by ``SIGKILL`` of the whole server (``PR_SET_PDEATHSIG``);
* a watcher thread waits for the child; if it dies unasked, ``on_exit`` gets the reason (the
  engine fails its callers with it) and a request in flight fails with it at once;
* :meth:`ProcessStylizer.close` stops the child (terminating it after a grace period) and
  unlinks the shared memory; multiprocessing's resource tracker unlinks it if this process is
  killed first.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import mmap
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError
from ..frames import Frame
from .backends import BackendOptions, BackendReport
from .catalog import ModelSet
from .stylizer import Stylizer, output_sizes

__all__ = ["InferenceProcessDied", "ProcessPriority", "ProcessStylizer", "SharedArena"]

logger = logging.getLogger(__name__)

#: seconds the child may take to exit when told to, before it is terminated
EXIT_GRACE = 5.0
#: seconds the child may take to load its models and answer
START_TIMEOUT = 120.0


class ProcessPriority(enum.StrEnum):
    """CPU priority of every thread of the inference process."""

    IDLE = "idle"  #: ``SCHED_IDLE``: runs only on cores nothing else wants
    NICE = "nice"  #: nice 19: the lowest normal priority
    NORMAL = "normal"  #: unchanged (for comparisons)


class InferenceProcessDied(RuntimeError):
    """The inference process exited without being asked to."""


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


@dataclass(frozen=True)
class _Slot:
    """Where one array lies in the arena."""

    offset: int
    shape: tuple[int, ...]
    dtype: str = "uint8"

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def _view(buffer: memoryview, slot: _Slot) -> np.ndarray:
    return np.ndarray(slot.shape, np.dtype(slot.dtype), buffer, slot.offset)


class SharedArena:
    """A shared memory block this process creates, grows and unlinks (its one owner)."""

    def __init__(self) -> None:
        self._memory: SharedMemory | None = None
        self._old: SharedMemory | None = None

    @property
    def name(self) -> str | None:
        """The block's name, for the child to attach (None before the first :meth:`reserve`)."""
        return self._memory.name if self._memory is not None else None

    def reserve(self, nbytes: int) -> bool:
        """Make room for ``nbytes``; True if that made a new block (the child must attach it).
        The old block, if any, stays until :meth:`release_old`."""
        if self._memory is not None and self._memory.size >= nbytes:
            return False
        self._old = self._memory
        self._memory = SharedMemory(create=True, size=max(nbytes, 2 * (self._memory.size if self._memory else 0)))
        return True

    def release_old(self) -> None:
        """Unlink the block :meth:`reserve` replaced (once the child has let go of it)."""
        old, self._old = self._old, None
        if old is not None:
            _unlink(old)

    @property
    def buffer(self) -> memoryview:
        """The current block's memory."""
        assert self._memory is not None
        buffer = self._memory.buf
        assert buffer is not None
        return buffer

    def close(self) -> None:
        """Unlink every block. Idempotent."""
        self.release_old()
        if self._memory is not None:
            _unlink(self._memory)
            self._memory = None


def _unlink(memory: SharedMemory) -> None:
    memory.close()
    with contextlib.suppress(FileNotFoundError):
        memory.unlink()


def _layout(shapes: list[tuple[int, ...]], start: int = 0) -> tuple[list[_Slot], int]:
    slots, offset = [], start
    for shape in shapes:
        slot = _Slot(offset, shape)
        slots.append(slot)
        offset += -(-slot.nbytes // 64) * 64  # 64-byte aligned
    return slots, offset


class ProcessStylizer:
    """A :class:`~streamer.inference.stylizer.FrameStylizer` whose work runs in a child process.

    Open with :meth:`open` on the inference thread; use and close it there only.
    """

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection, report: BackendReport, batching: bool,
                 on_exit: Callable[[BaseException], None] | None) -> None:
        self.report = report
        self._process = process
        self._conn = conn
        self._batching = batching
        self._arena = SharedArena()
        self._closing = False
        self._on_exit = on_exit
        self._watcher = threading.Thread(target=self._watch, name="streamer-inference-process-watch", daemon=True)
        self._watcher.start()

    @classmethod
    def open(cls, model_set: ModelSet, options: BackendOptions,
             priority: ProcessPriority = ProcessPriority.IDLE,
             on_exit: Callable[[BaseException], None] | None = None) -> ProcessStylizer:
        """Start the child, load the models there and wait for its backend report.

        :param on_exit: called (on a watcher thread) with :class:`InferenceProcessDied` if the
            child dies before :meth:`close`.
        :raises: whatever loading the models raised in the child (the same error as in-thread),
            or :class:`~streamer.errors.BackendUnavailableError` if the child could not start.
        """
        ours, theirs = multiprocessing.Pipe()
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_COMMAND, str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env,
                stdin=subprocess.DEVNULL, process_group=0)  # own group: Ctrl-C is the parent's to handle
        except OSError as exc:
            ours.close()
            raise BackendUnavailableError(f"cannot start the inference process: {exc}") from exc
        finally:
            theirs.close()
        try:
            ours.send((model_set, options, ProcessPriority(priority), os.getpid()))
            if not ours.poll(START_TIMEOUT):
                raise BackendUnavailableError(f"the inference process did not start within {START_TIMEOUT:g} s")
            kind, value, batching = ours.recv()
        except (EOFError, OSError):
            _stop(process, ours)
            kind, value = "error", InferenceProcessDied(f"the inference process {_exit_reason(process.returncode)}"
                                                       " while loading the models")
        except BaseException:
            _stop(process, ours)
            raise
        if kind == "error":
            _stop(process, ours)
            raise value
        return cls(process, ours, value, batching, on_exit)

    # -- supervision ----------------------------------------------------------------------
    def _died(self) -> InferenceProcessDied:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(EXIT_GRACE)
        return InferenceProcessDied(f"the inference process (pid {self._process.pid}) "
                                    f"{_exit_reason(self._process.returncode)}")

    def _watch(self) -> None:
        self._process.wait()
        if self._closing:
            return
        error = self._died()
        logger.error("%s", error)
        if self._on_exit is not None:
            self._on_exit(error)

    def _ask(self, *request: Any) -> Any:
        """Send one request and wait for its answer; re-raise the child's error."""
        try:
            self._conn.send(request)
            kind, value, self._batching = self._conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if kind == "error":
            raise value
        return value

    def _put(self, arrays: list[np.ndarray], out_shapes: list[tuple[int, ...]]) -> tuple[list[_Slot], list[_Slot]]:
        """Lay ``arrays`` then room for ``out_shapes`` out in the arena; copy the arrays in."""
        ins, end = _layout([a.shape for a in arrays])
        outs, end = _layout(out_shapes, end)
        if self._arena.reserve(end):
            self._ask("attach", self._arena.name)
            self._arena.release_old()
        buffer = self._arena.buffer
        for array, slot in zip(arrays, ins, strict=True):
            np.copyto(_view(buffer, slot), array, casting="no")
        return ins, outs

    # -- FrameStylizer --------------------------------------------------------------------
    @property
    def supports_batching(self) -> bool:
        """As the child's transform says (False once a batched run failed there)."""
        return self._batching

    def stylize(self, frames: list[Frame], styles: list[np.ndarray], shape: tuple[int, int],
                upscale: list[bool] | None = None) -> list[Frame]:
        """See :meth:`Stylizer.stylize`; runs in the child."""
        sizes = output_sizes(frames, shape, upscale)
        ins, outs = self._put([np.asarray(f.image, np.uint8) for f in frames], [(*s, 3) for s in sizes])
        self._ask("stylize", ins, outs, np.stack(styles).astype(np.float32, copy=False), shape)
        buffer = self._arena.buffer
        return [f.with_image(_view(buffer, slot).copy()) for f, slot in zip(frames, outs, strict=True)]

    def embed(self, image: np.ndarray) -> np.ndarray:
        """See :meth:`Stylizer.embed`; runs in the child."""
        (slot,), _ = self._put([np.asarray(image, np.uint8)], [])
        embedding: np.ndarray = self._ask("embed", slot)
        return embedding

    @property
    def predictor_runs(self) -> int:
        """How many times the child's predictor ran."""
        runs: int = self._ask("predictor_runs")
        return runs

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self._process.pid)

    def close(self) -> None:
        """Stop the child (its models are closed there) and unlink the shared memory."""
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(OSError):
            self._conn.send(("close",))
        _stop(self._process, self._conn)
        self._watcher.join()
        self._arena.close()


def _stop(process: subprocess.Popen[bytes], conn: Connection) -> None:
    """Wait for ``process`` to exit, terminating then killing it if it does not."""
    for end in (None, process.terminate, process.kill):
        if end is not None:
            end()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(EXIT_GRACE)
            break
    conn.close()


# -- the child ------------------------------------------------------------------------------
def _thread_ids() -> Iterator[int]:
    try:
        yield from (int(name) for name in os.listdir("/proc/self/task"))
    except OSError:
        yield 0


def _lower_priority(priority: ProcessPriority) -> None:
    """Every thread of this process (threads made later inherit it) at ``priority``."""
    for tid in _thread_ids():
        with contextlib.suppress(OSError, AttributeError):
            if priority is ProcessPriority.IDLE:
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            elif priority is ProcessPriority.NICE:
                os.setpriority(os.PRIO_PROCESS, tid, 19)


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the thread that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def _attach(name: str) -> mmap.mmap:
    """Map the parent's block without registering it with a resource tracker of our own
    (Python < 3.13 would, and that tracker would unlink the parent's block when we exit)."""
    fd = os.open(f"/dev/shm/{name.lstrip('/')}", os.O_RDWR)
    try:
        return mmap.mmap(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


_CHILD_COMMAND = "import sys; from streamer.inference.process import child_main; child_main(int(sys.argv[1]))"


def child_main(fd: int) -> None:
    """The child's whole life, on the pipe end ``fd``: load the models, answer requests until
    told to close or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    model_set, options, priority, parent = conn.recv()
    _die_with_parent(parent)
    _lower_priority(priority)
    try:
        stylizer = Stylizer.open(model_set, options)
    except BaseException as exc:
        conn.send(("error", _picklable(exc), False))
        return
    _lower_priority(priority)  # threads the runtime started
    conn.send(("ok", stylizer.report, stylizer.supports_batching))
    memory: mmap.mmap | None = None
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request[0] == "close":
                return
            try:
                if request[0] == "attach":
                    if memory is not None:
                        memory.close()
                    memory = _attach(request[1])
                    answer: Any = None
                else:
                    answer = _answer(stylizer, memory, request)
                conn.send(("ok", answer, stylizer.supports_batching))
            except Exception as exc:
                conn.send(("error", _picklable(exc), stylizer.supports_batching))
    finally:
        stylizer.close()
        if memory is not None:
            memory.close()


def _answer(stylizer: Stylizer, memory: mmap.mmap | None, request: tuple[Any, ...]) -> Any:
    kind = request[0]
    if kind == "predictor_runs":
        return stylizer.predictor_runs
    assert memory is not None
    buffer = memoryview(memory)
    if kind == "embed":
        return stylizer.embed(_view(buffer, request[1]))
    if kind == "stylize":
        _, ins, outs, styles, shape = request
        images = stylizer.stylize_images([_view(buffer, s) for s in ins], list(styles), shape,
                                         [s.shape[:2] for s in outs])
        for image, slot in zip(images, outs, strict=True):
            np.copyto(_view(buffer, slot), image)
        return None
    raise ValueError(f"unknown request {kind!r}")


def _picklable(exc: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
