"""Deciding what to convert: expanding folders and globs, and naming the outputs."""

from __future__ import annotations

import glob
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "Job", "plan_jobs"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".flv", ".mpg",
                            ".mpeg", ".ogv", ".3gp", ".gif"})
_IMAGE_OUTPUT = {".bmp": ".png", ".tif": ".png", ".tiff": ".png"}  # formats we read but do not write
_VIDEO_OUTPUT = {".gif": ".mp4"}


@dataclass(frozen=True)
class Job:
    """One input file and where its stylized version goes."""

    source: Path
    destination: Path

    @property
    def is_image(self) -> bool:
        """True for still images (stylized to an image), False for video."""
        return self.source.suffix.lower() in IMAGE_SUFFIXES


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def _expand(inputs: Sequence[str]) -> tuple[list[Path], bool]:
    """Input files, and whether the user named several (folder, glob or many paths)."""
    files: list[Path] = []
    many = len(inputs) > 1
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            many = True
            found = sorted(p for p in path.iterdir() if p.is_file() and _is_media(p) and not p.name.startswith("."))
            if not found:
                raise ConfigError(f"{path} holds no image or video files")
            files.extend(found)
        elif path.exists() or "://" in text:
            files.append(path)
        elif glob.has_magic(text):
            many = True
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_media(Path(p)))
            if not found:
                raise ConfigError(f"no image or video files match {text!r}")
            files.extend(found)
        else:
            raise ConfigError(f"{text}: no such file or folder")
    return files, many


def _output_suffix(source: Path) -> str:
    suffix = source.suffix.lower()
    return _IMAGE_OUTPUT.get(suffix) or _VIDEO_OUTPUT.get(suffix) or source.suffix


def plan_jobs(inputs: Sequence[str], output: str | None, style_label: str, overwrite: bool = False) -> list[Job]:
    """Pair every input with its destination.

    One input: ``output`` is the destination file (default ``<name>_<style><ext>`` beside the
    input). Several inputs (a folder, a glob, many paths): ``output`` is a folder (created if
    needed; default: beside each input) and each file keeps its name.

    :raises ConfigError: missing inputs, an output that would overwrite an input or (without
        ``overwrite``) an existing file, or a single file as the output of many inputs.
    """
    if not inputs:
        raise ConfigError("give at least one input file or folder")
    files, many = _expand(inputs)
    out = Path(output).expanduser() if output else None
    jobs: list[Job] = []
    if many:
        if out is not None and out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file; with several inputs -o must be a folder")
        for source in files:
            name = source.stem + _output_suffix(source)
            target = (out / name) if out is not None else source.with_name(f"{source.stem}_{style_label}"
                                                                          f"{_output_suffix(source)}")
            jobs.append(Job(source, target))
    else:
        source = files[0]
        if out is not None and out.is_dir():
            out = out / (source.stem + _output_suffix(source))
        target = out or source.with_name(f"{source.stem}_{style_label}{_output_suffix(source)}")
        if target.suffix == "":
            raise ConfigError(f"{target}: give the output a file extension (.mp4, .png, ...)")
        jobs.append(Job(source, target))
    sources = {j.source.resolve() for j in jobs}
    seen: set[Path] = set()
    for job in jobs:
        resolved = job.destination.resolve()
        if resolved in sources:
            raise ConfigError(f"{job.destination} is also an input; choose another output")
        if not job.destination.parent.is_dir() and not many:
            raise ConfigError(f"cannot write {job.destination}: folder {job.destination.parent} does not exist")
        if resolved in seen:
            raise ConfigError(f"two inputs would both be written to {job.destination}")
        seen.add(resolved)
        if job.destination.exists() and not overwrite:
            raise ConfigError(f"{job.destination} already exists (use --overwrite to replace it)")
    for folder in sorted({j.destination.parent for j in jobs if j.destination.parent.is_dir()}):
        _check_writable(folder)
    return jobs


def _check_writable(folder: Path) -> None:
    """Refuse a folder where no file can be created (read-only, no permission), before any work."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".streamer-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write into {folder}: {exc.strerror or exc}") from None
