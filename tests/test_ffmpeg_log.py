"""FFmpeg log capture and quiet blocks: PyAV's level is what the active blocks need, and the
user's own level comes back when they end, whatever the order."""

from __future__ import annotations

import av.logging
import pytest

from streamer.ffmpeg_log import ffmpeg_messages, ffmpeg_quiet


@pytest.mark.parametrize("own", [None, av.logging.WARNING])
def test_log_level_when_blocks_overlap_in_any_order_then_restored(own: int | None) -> None:
    before = av.logging.get_level()
    av.logging.set_level(own)
    try:
        collecting = av.logging.ERROR if own is None else own
        messages = ffmpeg_messages("h264")
        messages.__enter__()
        assert av.logging.get_level() == collecting
        quiet = ffmpeg_quiet()
        quiet.__enter__()
        assert av.logging.get_level() is None  # nothing reaches PyAV's callback while closing
        messages.__exit__(None, None, None)  # the collecting block ends first
        assert av.logging.get_level() is None
        quiet.__exit__(None, None, None)
        assert av.logging.get_level() == own
        with ffmpeg_quiet():
            with ffmpeg_messages("h264"):
                assert av.logging.get_level() is None
            assert av.logging.get_level() is None
        assert av.logging.get_level() == own
    finally:
        av.logging.set_level(before)


def test_ffmpeg_messages_when_the_same_message_comes_twice_collects_both() -> None:
    # PyAV drops a message equal to the one before it: a second read of the same damage (a file a
    # Ray worker reads whole after one of its chunks) lost its message and one from its count
    before = av.logging.get_skip_repeated()
    with ffmpeg_messages("h264") as messages:
        for _ in range(2):
            av.logging.log(av.logging.ERROR, "h264", "error while decoding MB 4 2, bytestream -10\n")
        assert messages.take() == [("h264", "error while decoding MB 4 2, bytestream -10")] * 2
    assert av.logging.get_skip_repeated() is before  # PyAV's own setting is back


def test_ffmpeg_messages_when_blocks_watch_other_names_leaves_each_its_own() -> None:
    # two readers at once in one process (a Ray driver joining one file while it plans another): the
    # first to look took every message, and dropped the other's
    with ffmpeg_messages("h264") as decoder, ffmpeg_messages("matroska,webm") as demuxer:
        av.logging.log(av.logging.ERROR, "h264", "error while decoding MB 4 2\n")
        av.logging.log(av.logging.ERROR, "matroska,webm", "Read error\n")
        assert demuxer.take() == [("matroska,webm", "Read error")]
        assert decoder.take() == [("h264", "error while decoding MB 4 2")]
        demuxer.watch_only("h264")  # fewer or other names from then on
        av.logging.log(av.logging.ERROR, "matroska,webm", "Read error\n")
        assert demuxer.take() == [] and decoder.take() == []  # nobody watches it any more
