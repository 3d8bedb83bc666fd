"""Whether a decoder can start at a keyframe and give the whole file's frames, and what it then
says that is not damage.

Most codecs' keyframes reset the decoder: a chunk starting at one decodes exactly as the
same frames do in the whole file. H.264 also marks as keyframes I-frames that are not IDR
frames (open GOPs, x264's ``open-gop``, broadcast recordings). Later frames may then still
refer to pictures before the cut, unless the frame carries a *recovery point* that promises
an exact match from that frame on (``recovery_frame_cnt`` 0, ``exact_match_flag`` 1, no
broken link). A fresh decoder starting there is told to forget references it never had and
says so ("mmco: unref short failure") before giving the same pictures: those messages, and
nothing else, are the cut's, not damage (:meth:`Entry.expects`). Keyframes that are neither kind
are not cut points.
"""

from __future__ import annotations

import enum

__all__ = ["Entry", "entry_of"]

_IDR, _SEI = 5, 6
_RECOVERY_POINT = 6  # SEI payload type


#: what FFmpeg's H.264 decoder says, starting at a recovery point, when the stream tells it to
#: forget a reference picture from before the cut (one per such picture; nothing else was seen)
_FORGETS_UNSEEN_REFERENCE = "mmco: unref short failure"


class Entry(enum.Enum):
    """How a decoder may start at a keyframe."""

    RESET = "reset"  #: a fresh start (an IDR frame, another codec's keyframe): no message expected
    RECOVERY = "recovery point"  #: exact pictures, with messages about references never seen
    NONE = "none"  #: later frames may need pictures before it: not a cut point

    def expects(self, message: str) -> bool:
        """Whether a decoder started here says ``message`` before its first picture without any
        damage: at a recovery point, that it cannot forget a reference it never saw. Any other
        message (damage in the first packets: concealed macroblocks, unreadable slices) is not."""
        return self is Entry.RECOVERY and message == _FORGETS_UNSEEN_REFERENCE


def entry_of(codec: str, extradata: bytes | None, data: bytes) -> Entry:
    """How a decoder may start at the keyframe packet ``data`` of a ``codec`` stream."""
    if codec != "h264":
        return Entry.RESET
    units = list(_nal_units(extradata, data))
    if any(unit[0] & 0x1F == _IDR for unit in units if unit):
        return Entry.RESET
    if any(_exact_recovery(unit) for unit in units if unit and unit[0] & 0x1F == _SEI):
        return Entry.RECOVERY
    return Entry.NONE


def _nal_units(extradata: bytes | None, data: bytes) -> list[bytes]:
    """The NAL units of one packet: length-prefixed (MP4, MKV: ``avcC`` extradata) or Annex B."""
    if extradata and extradata[0] == 1 and len(extradata) > 4:
        size, units, i = (extradata[4] & 3) + 1, [], 0
        while i + size <= len(data):
            length = int.from_bytes(data[i:i + size], "big")
            units.append(data[i + size:i + size + length])
            i += size + length
        return units
    return [unit.lstrip(b"\x00") for unit in data.split(b"\x00\x00\x01") if unit.strip(b"\x00")]


def _exact_recovery(unit: bytes) -> bool:
    """Whether an SEI unit holds a recovery point with an exact match at this very frame."""
    payload, i = _unescape(unit[1:]), 0
    while i < len(payload) and payload[i] != 0x80:  # 0x80: the trailing bits
        kind, i = _sei_number(payload, i)
        size, i = _sei_number(payload, i)
        if kind == _RECOVERY_POINT:
            bits = _Bits(payload[i:i + size])
            try:
                return bits.ue() == 0 and bits.bit() == 1 and bits.bit() == 0
            except IndexError:
                return False
        i += size
    return False


def _sei_number(payload: bytes, i: int) -> tuple[int, int]:
    value = 0
    while i < len(payload) and payload[i] == 0xFF:
        value, i = value + 255, i + 1
    return (value + payload[i], i + 1) if i < len(payload) else (value, i)


def _unescape(data: bytes) -> bytes:
    """The unit without its emulation-prevention bytes (``00 00 03`` -> ``00 00``)."""
    return data.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    """Reads an RBSP bit by bit (Exp-Golomb numbers)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def bit(self) -> int:
        byte = self._data[self._at >> 3]
        value = (byte >> (7 - (self._at & 7))) & 1
        self._at += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        value = 0
        for _ in range(zeros):
            value = (value << 1) | self.bit()
        return (1 << zeros) - 1 + value
