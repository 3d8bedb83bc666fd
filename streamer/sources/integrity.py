"""Damaged input: what counts as damage, how it is detected, and how it is described.

A file can be damaged in three ways ``convert`` detects, each while converting what decodes:

* **cut short** (a download or copy that stopped): the container's index and header say the
  video has more frames and lasts longer than what was found (more than 2 frames and 2 %
  missing, by count and by time where both are known; more than 1 s and 5 % when only the
  whole file's duration is known, which includes its audio);
* **unreadable from some point** (the demuxer fails with an error): reading stops there;
* **corrupt packets**: the decoder rejects packets or reports errors (FFmpeg conceals most
  and still returns a frame, with visible blocks).

What to do about it (warn, exit status) is the caller's policy; this module only reports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReadReport"]

@dataclass
class ReadReport:
    """What reading one video stream found; filled in by the reader as it goes."""

    frames: int = 0  #: frames decoded
    declared_frames: int | None = None  #: frame count in the container's index, if any
    declared_end: float | None = None  #: seconds where the container says the video ends
    declared_end_is_video: bool = True  #: False when only the whole file's duration is known
    start: float = 0.0  #: seconds where the video starts
    decoded_end: float | None = None  #: seconds where the last decoded frame ends
    rate: float | None = None  #: nominal frames per second
    failed_packets: int = 0  #: packets the decoder rejected (no frame)
    decoder_errors: int = 0  #: errors FFmpeg reported while decoding (damage it concealed or skipped)
    expected_errors: int = 0  #: decoder messages the reader was told to expect (not damage, not counted above)
    first_error: str | None = None  #: the first decoder or demuxer error message
    stopped_at: float | None = None  #: seconds where the demuxer failed, if it did
    repaired_timestamps: int = 0  #: frame timestamps missing or out of order, replaced

    def note_error(self, message: str) -> None:
        """Remember the first error message."""
        if self.first_error is None:
            self.first_error = message.strip()

    @property
    def missing_by_count(self) -> int | None:
        """Frames the index lists that were not decoded (None without an index count)."""
        if not self.declared_frames:
            return None
        return max(0, self.declared_frames - self.frames)

    @property
    def cut_short(self) -> bool:
        """The container says there is more video than was found, by count and by time where both are known.

        Requiring both keeps trimmed MP4s (an edit list hides frames the index still counts) and
        AVIs with dropped-frame chunks from counting as damaged.
        """
        by_count = self._missing_by_count()
        by_time = self._missing_by_time()
        if by_count is None:
            return bool(by_time)
        return by_count and (by_time is None or by_time)

    def _missing_by_count(self) -> bool | None:
        missing = self.missing_by_count
        if missing is None or not self.declared_frames:
            return None
        return missing > max(2, 0.02 * self.declared_frames)

    def _missing_by_time(self) -> bool | None:
        if self.declared_end is None or self.decoded_end is None:
            return None
        length = max(self.declared_end - self.start, 0.0)
        gap = self.declared_end - self.decoded_end
        if not self.declared_end_is_video:
            return gap > max(1.0, 0.05 * length)
        return gap > max(2.0 / (self.rate or 25.0), 0.02 * length)

    @property
    def expected_frames(self) -> tuple[int, bool] | None:
        """(frames the input should have, whether that is an estimate), if known."""
        if self.declared_frames:
            return self.declared_frames, False
        if self.declared_end is not None and self.rate:
            return max(self.frames, round((self.declared_end - self.start) * self.rate)), True
        return None

    @property
    def damaged(self) -> bool:
        """Any sign of damage."""
        return bool(self.cut_short or self.stopped_at is not None or self.failed_packets
                    or self.decoder_errors)

    def describe(self) -> str | None:
        """One line for the user, e.g. ``"decoded 28 of ~60 frames (the file ends early)"``; None if intact."""
        if not self.damaged:
            return None
        expected = self.expected_frames
        if expected is not None and (self.cut_short or self.stopped_at is not None or self.failed_packets):
            count, estimated = expected
            head = f"decoded {self.frames} of {'~' if estimated else ''}{count} frames"
        else:
            head = f"decoded {self.frames} frames"
        causes = [head]
        if self.stopped_at is not None:
            causes.append(f"unreadable after {self.stopped_at:.2f} s")
        elif self.cut_short and self.decoded_end is not None and self.declared_end:
            causes.append(f"the file ends early ({self.decoded_end:.2f} s of {self.declared_end:.2f} s)")
        elif self.cut_short:
            causes.append("the file ends early")
        if self.failed_packets:
            causes.append(f"{self.failed_packets} packet{'s' if self.failed_packets != 1 else ''} could not be decoded")
        if self.decoder_errors:
            n = self.decoder_errors
            causes.append(f"{n} decoding error{'s' if n != 1 else ''}")
        if self.first_error:
            causes.append(f"first error: {self.first_error}")
        return "damaged input: " + "; ".join(causes)
