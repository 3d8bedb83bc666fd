"""Choosing the CPU transform's precision, int8 or float, by measuring both on this machine.

The design names int8 as the CPU model, but whether XNNPACK's int8 kernels beat its float ones
depends on the CPU: without VNNI (e.g. AVX2-only x86) the float16-weight model, computed in
float32, can be both faster and far closer to the float model. So with ``--precision auto`` the
CPU backend times both transforms once, alternating, at :data:`MEASURE_SHAPE`, takes the faster
(float when they are within :data:`TIE` of each other: the cleaner picture wins a tie), and keeps
the decision on disk per machine, model files, runtime version and thread count.

Nothing here asserts a speed; the decision and its figures are reported, never hidden.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ..config import CpuPrecision, Precision, default_cache_dir
from .catalog import ModelSet
from .modelfile import EMBEDDING_DIM
from .runners import InterpreterTransform
from .runtime import load_runtime

__all__ = [
    "MEASURE_SHAPE",
    "PrecisionCache",
    "PrecisionChoice",
    "choose_faster",
    "label",
    "machine_fingerprint",
    "open_cpu_transform",
]

logger = logging.getLogger(__name__)

#: (height, width) at which the two transforms are timed: the default processing size, square
MEASURE_SHAPE = (384, 384)
#: relative difference under which the two count as equally fast (then float is chosen)
TIE = 0.05
#: bump when the measurement or the key changes meaning, so old decisions are not reused
_CACHE_VERSION = 1
_CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
              "avx512_fp16", "amx_int8", "amx_bf16", "asimd", "asimddp", "fphp", "asimdhp", "i8mm", "sve")


def label(precision: Precision) -> str:
    """How the CPU precision is called for users: ``int8`` or ``float`` (the fp16-weight file)."""
    return "float" if precision is Precision.FP16 else precision.value


@dataclass(frozen=True)
class PrecisionChoice:
    """Which CPU transform runs and why."""

    precision: Precision
    reason: str  #: e.g. "measured on this machine: float 9.6 ms, int8 12.7 ms at 384x384"
    int8_ms: float | None = None
    float_ms: float | None = None
    cached: bool = False


def choose_faster(int8_ms: float, float_ms: float, tie: float = TIE) -> Precision:
    """The faster precision; float when the two are within ``tie`` (relative) of each other."""
    if int8_ms < float_ms * (1.0 - tie):
        return Precision.INT8
    return Precision.FP16


def machine_fingerprint() -> dict[str, str]:
    """What decides XNNPACK's speed on this machine: CPU model and its SIMD features, OS, arch."""
    cpu, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not cpu:
                cpu = value.strip()
            elif key in ("flags", "Features") and not flags:
                have = set(value.split())
                flags = " ".join(f for f in _CPU_FLAGS if f in have)
    except OSError:
        pass
    cpu = cpu or platform.processor()
    return {"cpu": cpu, "features": flags, "machine": platform.machine(), "system": platform.system()}


def _cache_key(model_shas: tuple[str, str], threads: int, shape: tuple[int, int]) -> str:
    runtime = load_runtime()
    parts = {
        "machine": machine_fingerprint(),
        "runtime": f"{runtime.name} {runtime.version}",
        "int8": model_shas[0],
        "float": model_shas[1],
        "threads": threads,
        "shape": list(shape),
        "version": _CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class PrecisionCache:
    """Decisions by key in one small JSON file (``<cache dir>/precision.json``).

    Disk problems (read-only home, a corrupt file) are logged and never fatal: the
    measurement is simply made again.

    :param path: the file (default: ``precision.json`` in the cache directory).
    :param reuse: False to ignore stored decisions (measure again) while still storing new ones.
    """

    def __init__(self, path: Path | None = None, reuse: bool = True) -> None:
        self.path = path if path is not None else default_cache_dir() / "precision.json"
        self.reuse = reuse

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.info("ignoring the precision cache %s: %s", self.path, exc)
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored decision for ``key``, or None (also for an entry that does not parse)."""
        if not self.reuse:
            return None
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            Precision(entry["precision"])
            float(entry["int8_ms"]), float(entry["float_ms"])
        except (KeyError, TypeError, ValueError):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store a decision (atomically; through a symlink to its target)."""
        target = self.path.resolve()
        entries = self._entries()
        entries[key] = entry
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".precision-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": _CACHE_VERSION, "entries": entries}, f, indent=1)
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            logger.info("cannot write the precision cache %s: %s", target, exc)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def _time_alternating(runners: tuple[InterpreterTransform, InterpreterTransform], shape: tuple[int, int],
                      budget_s: float, min_pairs: int = 3, max_pairs: int = 15) -> tuple[float, float]:
    """Median milliseconds of each runner, timed in alternation (so load from elsewhere hits both)."""
    rng = np.random.default_rng(0)
    content = rng.random((1, *shape, 3), dtype=np.float32)
    style = rng.random((1, EMBEDDING_DIM), dtype=np.float32)
    for runner in runners:  # prepares the interpreter for this shape, and warms it up
        runner.run(content, style)
    samples: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    for pair in range(max_pairs):
        if pair >= min_pairs and time.perf_counter() - start >= budget_s:
            break
        for runner, times in zip(runners if pair % 2 == 0 else runners[::-1],
                                 samples if pair % 2 == 0 else samples[::-1], strict=True):
            t = time.perf_counter()
            runner.run(content, style)
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(samples[0]), 1000 * statistics.median(samples[1])


def _measured_reason(precision: Precision, int8_ms: float, float_ms: float, shape: tuple[int, int],
                     threads: int, when: str) -> str:
    if abs(int8_ms - float_ms) < TIE * max(int8_ms, float_ms):
        why = "as fast as int8 within 5 % and closer to the float model"
    else:
        why = "the faster on this machine"
    return (f"{label(precision)}, {why}: float {float_ms:.1f} ms, int8 {int8_ms:.1f} ms per {shape[1]}x{shape[0]} "
            f"frame with {threads} thread{'s' if threads != 1 else ''} ({when})")


def open_cpu_transform(model_set: ModelSet, threads: int, asked: CpuPrecision = CpuPrecision.AUTO,
                       cache: PrecisionCache | None = None, shape: tuple[int, int] = MEASURE_SHAPE,
                       budget_s: float = 0.5) -> tuple[InterpreterTransform, PrecisionChoice]:
    """The CPU transform in the asked precision, or with ``AUTO`` the one measured faster here.

    :param cache: where decisions are kept (default: ``precision.json`` in the cache directory).
    :param shape: (height, width) to time at; the cache key includes it.
    :param budget_s: rough time spent timing, after one warm-up run of each.
    :raises ModelError: the asked precision is missing from the model set, or a file is invalid.
    """
    have = set(model_set.transforms)
    wanted = asked.file_precision
    if wanted is not None:
        model = model_set.load_transform(wanted)  # raises ModelError naming what the set has
        return InterpreterTransform(model, threads), PrecisionChoice(wanted, f"--precision {asked.value}")
    if have != {Precision.INT8, Precision.FP16}:
        only = next(iter(have)) if have else Precision.INT8
        model = model_set.load_transform(only)
        return InterpreterTransform(model, threads), PrecisionChoice(
            only, f"the only CPU transform of model {model_set.name!r}")
    int8 = InterpreterTransform(model_set.load_transform(Precision.INT8), threads)
    flt = InterpreterTransform(model_set.load_transform(Precision.FP16), threads)
    cache = cache if cache is not None else PrecisionCache()
    key = _cache_key((int8.model.file.sha256, flt.model.file.sha256), threads, shape)
    entry = cache.get(key)
    if entry is not None:
        precision = Precision(entry["precision"])
        int8_ms, float_ms = float(entry["int8_ms"]), float(entry["float_ms"])
        choice = PrecisionChoice(precision, _measured_reason(precision, int8_ms, float_ms, shape, threads,
                                                             f"measured {entry.get('date', '?')}, cached"),
                                 int8_ms, float_ms, cached=True)
    else:
        try:
            int8_ms, float_ms = _time_alternating((int8, flt), shape, budget_s)
        except BaseException:
            int8.close()
            flt.close()
            raise
        precision = choose_faster(int8_ms, float_ms)
        today = date.today().isoformat()
        cache.put(key, {"precision": precision.value, "int8_ms": round(int8_ms, 3), "float_ms": round(float_ms, 3),
                        "date": today, "threads": threads, "model": model_set.name,
                        "runtime": f"{load_runtime().name} {load_runtime().version}"})
        choice = PrecisionChoice(precision, _measured_reason(precision, int8_ms, float_ms, shape, threads,
                                                                   f"measured now, {today}"),
                                 int8_ms, float_ms)
    keep, drop = (int8, flt) if precision is Precision.INT8 else (flt, int8)
    drop.close()
    return keep, choice
