"""StreamSource: files in real time, network URLs with timeouts, audio for recordings."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.errors import ConfigError, SourceEndedError, SourceOpenError, SourceTimeoutError
from streamer.frames import Frame
from streamer.sources.base import AudioPacket, redact
from streamer.sources.stream import StreamSource, is_network_url

from ..media import make_clip
from .servers import SilentServer, free_port


def _read_all(source: StreamSource, limit: int = 1000) -> list[Frame]:
    frames: list[Frame] = []
    with pytest.raises(SourceEndedError):
        while len(frames) < limit:
            frames.append(source.read())
    return frames


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", frames=10, width=96, height=64, fps=10)


def test_stream_source_when_file_is_read_delivers_every_frame_then_ends(clip: Path) -> None:
    source = StreamSource(clip, realtime=False)
    info = source.open()
    frames = _read_all(source)
    source.close()
    assert (info.width, info.height, info.fps, info.finite, info.reconnectable) == (96, 64, 10.0, True, False)
    assert len(frames) == 10
    assert frames[0].image.shape == (64, 96, 3) and frames[0].image.dtype.name == "uint8"
    assert [f.seq for f in frames] == list(range(10))


def test_stream_source_when_realtime_releases_frames_at_their_pace(clip: Path) -> None:
    # given a 10 fps clip played in real time
    source = StreamSource(clip)
    source.open()
    frames = _read_all(source)
    source.close()
    # then no frame is released before its time (frame i at least i/10 s after the first)
    start = frames[0].captured_at
    assert all(f.captured_at - start >= i / 10 - 0.005 for i, f in enumerate(frames))


def test_stream_source_when_looping_starts_over_with_a_new_epoch(clip: Path) -> None:
    source = StreamSource(clip, realtime=False, loop=True)
    info = source.open()
    frames = [source.read() for _ in range(25)]
    source.close()
    assert not info.finite
    assert source.epoch == 2
    assert frames[10].time == frames[0].time  # the clip's own clock started over


def test_stream_source_when_file_is_missing_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="no such file: .*nothing.mp4"):
        StreamSource(tmp_path / "nothing.mp4").open()


def test_stream_source_when_file_is_not_media_says_it_cannot_open(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceOpenError, match="cannot open junk.mp4"):
        StreamSource(junk).open()


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_stream_source_when_server_never_answers_times_out_clearly(silent_server: SilentServer,
                                                                  scheme: str) -> None:
    # given a server that accepts the connection and then says nothing
    url = f"{scheme}://127.0.0.1:{silent_server.port}/stream"
    source = StreamSource(url, open_timeout=1.0, read_timeout=1.0)
    # when opening, then it gives up after the open timeout with a clear message
    with pytest.raises(SourceTimeoutError) as caught:
        source.open()
    assert str(caught.value) == f"{url}: no answer within 1 s"
    assert silent_server.accepted >= 1


def test_stream_source_when_nobody_listens_fails_to_open_without_leaking_credentials() -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/stream"
    with pytest.raises(SourceOpenError) as caught:
        StreamSource(url, open_timeout=5.0).open()
    assert "s3cret" not in str(caught.value)
    assert "rtsp://***@127.0.0.1" in str(caught.value)


class _StallingHandler(http.server.BaseHTTPRequestHandler):
    """Sends the first part of a transport stream, then goes silent until the test ends."""

    payload = b""
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        self.wfile.write(self.payload)
        self.wfile.flush()
        self.release.wait(30)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stalling_server(tmp_path: Path) -> Iterator[str]:
    stream = make_clip(tmp_path / "live.ts", frames=60, width=96, height=64, fps=10, audio=None)
    data = stream.read_bytes()
    _StallingHandler.payload = data[: len(data) // 2]
    _StallingHandler.release = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-stalling-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    finally:
        _StallingHandler.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_stream_source_when_stream_stalls_mid_way_read_times_out(stalling_server: str) -> None:
    # given a stream that delivers some frames and then stalls
    source = StreamSource(stalling_server, open_timeout=2.0, read_timeout=1.0)
    info = source.open()
    assert info.reconnectable and not info.finite
    # when reading past what was sent, then the read gives up with a clear message
    frames = []
    with pytest.raises(SourceTimeoutError) as caught:
        for _ in range(1000):
            frames.append(source.read())
    source.close()
    assert frames, "the frames sent before the stall are delivered"
    assert str(caught.value) == f"{stalling_server}: no data for 1 s"


def test_stream_source_when_audio_is_asked_for_hands_out_packets(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "talk.mp4", frames=10, width=96, height=64, fps=10, audio="aac")
    packets: list[AudioPacket] = []
    source = StreamSource(clip, realtime=False, audio=True)
    source.on_audio = packets.append
    info = source.open()
    _read_all(source)
    source.close()
    # then the packets refer to a template that outlives the closed input
    assert info.audio is not None and info.audio.codec_context.name == "aac"
    assert len(packets) >= 10
    assert all(p.packet.stream is info.audio and p.time is not None for p in packets)


def test_stream_source_when_transport_given_for_http_refuses() -> None:
    with pytest.raises(ConfigError, match="only applies to rtsp"):
        StreamSource("http://127.0.0.1/x", transport="udp")
    with pytest.raises(ConfigError, match="tcp, udp"):
        StreamSource("rtsp://127.0.0.1/x", transport="sctp")


def test_redact_and_network_detection() -> None:
    assert redact("rtsp://user:pw@cam.local:554/a?b=c") == "rtsp://***@cam.local:554/a?b=c"
    assert redact("/videos/clip.mp4") == "/videos/clip.mp4"
    assert is_network_url("rtsp://cam/stream") and is_network_url("https://x/y.m3u8")
    assert not is_network_url("clip.mp4") and not is_network_url("file:///tmp/a.mp4")
    assert not is_network_url("C:/videos/clip.mp4")
