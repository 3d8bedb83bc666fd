"""The pieces under ``convert`` that the corpus reaches only as a whole: timing, encoder choice, size cap."""

from __future__ import annotations

import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from streamer.config import MAX_LONG_SIDE, ProcessingSize
from streamer.frames import Frame
from streamer.sinks.encoders import HARDWARE_ENCODERS, auto_video_encoder, trial_encode
from streamer.sinks.file import MediaWriter
from streamer.sources.integrity import ReadReport
from streamer.timestamps import FrameClock, TimestampSource, choose_timestamp_source, last_packet_duration

from .media import pattern_frame


def test_timestamp_source_when_avi_then_decode_order_even_if_pts_increase() -> None:
    # given: H.264 in AVI, as FFmpeg reads it: pts = dts + reorder delay (one frame late)
    pts, dts = [1, 2, 3, 4], [0, 1, 2, 3]
    # then
    assert choose_timestamp_source(pts, dts, "mp4") is TimestampSource.PTS
    assert choose_timestamp_source(pts, dts, "avi") is TimestampSource.DTS


def test_timestamp_source_when_pts_shuffled_then_dts_else_count() -> None:
    assert choose_timestamp_source([1, 4, 3, 5], [2, 3, 4, 5]) is TimestampSource.DTS
    assert choose_timestamp_source([1, 4, 3], [None, None, None]) is TimestampSource.COUNT


def test_frame_clock_when_dts_then_first_frame_starts_with_the_stream() -> None:
    # given: B-frame AVI: the decoder's first frame carries dts 2 (two frames of delay), the stream starts at 0
    clock = FrameClock(TimestampSource.DTS, start=0, interval=1)
    # when: the last frames come out at the decoder flush without a dts
    stamps = [clock.stamp(pts, dts) for pts, dts in [(1, 2), (4, 3), (3, 4), (5, 5), (2, None), (6, None)]]
    # then
    assert stamps == [0, 1, 2, 3, 4, 5] and clock.repaired == 0


def test_frame_clock_when_a_pts_goes_backwards_then_it_is_repaired_and_counted() -> None:
    clock = FrameClock(TimestampSource.PTS, start=0, interval=10)
    assert [clock.stamp(p, None) for p in [0, 10, 10, None, 40]] == [0, 10, 20, 30, 40]
    assert clock.repaired == 2


def test_last_packet_duration_when_b_frames_then_track_ends_at_the_last_frame_shown() -> None:
    # frames at 0,1,2,4,5 lasting until 8; x264 decode times -2..2; the track must be 8 long
    assert last_packet_duration(end=8, first_pts=0, first_dts=-2, last_dts=2) == 4
    assert last_packet_duration(end=3, first_pts=0, first_dts=-2, last_dts=2) is None


def test_processing_size_when_frame_is_very_thin_then_long_side_is_capped() -> None:
    size = ProcessingSize.parse("384")
    height, width = size.shape_for(1000, 8, multiple=4)
    assert height <= MAX_LONG_SIDE and height % 4 == 0 and width % 4 == 0
    assert abs(height / width - 1000 / 8) / (1000 / 8) < 0.1  # aspect kept within rounding
    assert size.cap_note(1000, 8, 4) is not None and size.cap_note(720, 1280, 4) is None
    assert size.shape_for(720, 1280, multiple=8) == (384, 680)  # ordinary frames unchanged
    assert max(ProcessingSize.parse("native").shape_for(4320, 7680)) == MAX_LONG_SIDE


def test_trial_encode_when_software_encoder_then_it_passes() -> None:
    assert trial_encode("libx264") is None
    assert trial_encode("no-such-encoder") == "not in this FFmpeg build"


def test_trial_encode_when_hardware_is_missing_then_ffmpeg_says_why() -> None:
    candidates = [c for c in HARDWARE_ENCODERS if c in av.codecs_available]
    if not candidates:
        pytest.skip("this FFmpeg build has no hardware encoders")
    reasons = {c: trial_encode(c) for c in candidates}
    failed = {c: why for c, why in reasons.items() if why is not None}
    if not failed:
        pytest.skip("every hardware encoder works here")
    for why in failed.values():  # FFmpeg's own explanation, not PyAV's wrapper around avcodec_open2
        assert why and "avcodec_open2" not in why


def test_auto_video_encoder_when_no_hardware_works_then_libx264_with_every_reason() -> None:
    choice = auto_video_encoder()
    if choice.hardware:
        assert trial_encode(choice.codec) is None
        return
    assert choice.codec == "libx264"
    for family in ("NVENC", "Quick Sync", "VAAPI", "VideoToolbox", "AMF"):
        assert family in choice.reason


def test_read_report_when_index_counts_frames_an_edit_list_hides_then_not_damaged() -> None:
    # given: a trimmed MP4: its index lists 15 frames before the cut that FFmpeg does not show,
    # but the video runs to its stated end
    report = ReadReport(frames=45, declared_frames=60, declared_end=1.5, decoded_end=1.5, rate=30.0)
    # then
    assert not report.cut_short and report.describe() is None


def test_read_report_when_cut_short_then_counts_in_the_message() -> None:
    report = ReadReport(frames=28, declared_frames=60, declared_end=2.0, decoded_end=0.93, rate=30.0)
    assert report.cut_short
    assert report.describe() == "damaged input: decoded 28 of 60 frames; the file ends early (0.93 s of 2.00 s)"
    estimated = ReadReport(frames=30, declared_end=2.0, decoded_end=1.0, rate=30.0)
    assert "decoded 30 of ~60 frames" in (estimated.describe() or "")


def test_read_report_when_only_the_file_duration_is_known_then_audio_tail_is_not_damage() -> None:
    # the file's duration includes 0.5 s of audio after the last frame
    report = ReadReport(frames=30, declared_end=1.5, declared_end_is_video=False, decoded_end=1.0, rate=30.0)
    assert not report.damaged


def _niceness(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
@pytest.mark.parametrize("starved", [True, False], ids=["waits-for-frames", "bottleneck"])
def test_encoder_priority_when_it_waits_for_frames_then_it_steps_back(tmp_path: Path, starved: bool,
                                                                      no_thread_leaks: None) -> None:
    # given: a writer fed slowly (inference is the bottleneck) or as fast as it takes frames
    height, width = (120, 160) if starved else (480, 640)
    frames = [Frame(pattern_frame(i, height, width), pts=i, time_base=Fraction(1, 25)) for i in range(32)]
    writer = MediaWriter(tmp_path / "out.mp4", width, height, Fraction(1, 25), Fraction(25))
    writer.open()
    process = _niceness(0)
    try:
        for frame in frames:
            writer.write(frame)
            if starved:
                time.sleep(0.12)
        # when the window of frames has been watched
        deadline = time.monotonic() + 20
        while writer.frames_written < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer._thread is not None and writer._thread.native_id is not None
        encoder_thread = _niceness(writer._thread.native_id)
        # then
        assert writer.priority.stepped_back is starved
        assert (encoder_thread > process) is starved
    finally:
        writer.finish()
