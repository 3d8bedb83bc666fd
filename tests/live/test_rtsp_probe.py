"""The RTSP test server's skip reason names the Debian package that is actually missing."""

from __future__ import annotations

import re

from .servers import ELEMENTS, SCRIPT, missing_elements_message


def test_rtsp_skip_reason_when_h264_decoder_is_missing_names_gstreamer_libav() -> None:
    assert missing_elements_message(["avdec_h264"]) == \
        "GStreamer elements missing: avdec_h264 (apt-get install gstreamer1.0-libav)"
    assert missing_elements_message(["x264enc", "intervideosrc"]).endswith(
        "(apt-get install gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)")


def test_rtsp_probe_when_server_pipelines_change_still_knows_every_element() -> None:
    """Every element the server's pipelines use is probed and mapped to its package."""
    text = SCRIPT.read_text()
    constants = text[text.index("ENCODE = "):text.index("def factory")]  # the pipeline strings
    pipelines = " ".join(re.findall(r'"\(?\s*([^"]*)"', constants))
    used = {m for m in re.findall(r"(?:^|[(!]\s*)([a-z0-9_]+)(?=\s)", pipelines)} - {"queue", "filesrc", "d"}
    assert used and used <= set(ELEMENTS), used - set(ELEMENTS)
