"""Servers the live tests talk to, all on 127.0.0.1: the real RTSP server (a GStreamer
subprocess) and a TCP server that accepts connections and then says nothing."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["RtspServer", "SilentServer", "free_port", "missing_elements_message", "rtsp_server_problem"]

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_server.py")
#: the GStreamer elements the test server uses, and the Debian package that ships each
ELEMENTS = {
    "videotestsrc": "gstreamer1.0-plugins-base",
    "decodebin": "gstreamer1.0-plugins-base",
    "videoconvert": "gstreamer1.0-plugins-base",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "qtdemux": "gstreamer1.0-plugins-good",
    "aacparse": "gstreamer1.0-plugins-good",
    "rtpmp4gpay": "gstreamer1.0-plugins-good",
    "intervideosink": "gstreamer1.0-plugins-bad",
    "intervideosrc": "gstreamer1.0-plugins-bad",
    "h264parse": "gstreamer1.0-plugins-bad",
    "avdec_h264": "gstreamer1.0-libav",
}
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    f"missing = [e for e in {tuple(ELEMENTS)!r} if Gst.ElementFactory.find(e) is None];"
    "print(' '.join(missing))"
)


def rtsp_server_problem() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None if it can."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found (the RTSP test server runs on the system Python)"
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "probing GStreamer timed out"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return ("GStreamer's RTSP server is not installed (apt-get install python3-gi "
                f"gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-*): {last}")
    if probe.stdout.strip():
        return missing_elements_message(probe.stdout.split())
    return None


def missing_elements_message(missing: list[str]) -> str:
    """The skip reason for missing GStreamer elements, naming the packages that ship them."""
    packages = sorted({ELEMENTS.get(e, "gstreamer1.0-plugins-*") for e in missing})
    return f"GStreamer elements missing: {' '.join(missing)} (apt-get install {' '.join(packages)})"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """gst-rtsp-server in a subprocess; can be killed, paused and restarted on the same port."""

    def __init__(self, port: int | None = None, clip: Path | None = None) -> None:
        self.port = port or free_port()
        self.clip = clip
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def url(self, mount: str) -> str:
        """``rtsp://127.0.0.1:PORT/mount``."""
        return f"rtsp://127.0.0.1:{self.port}/{mount.lstrip('/')}"

    def start(self, timeout: float = 20.0) -> None:
        """Start (or restart) the server and wait until it listens."""
        command = [SYSTEM_PYTHON, str(SCRIPT), str(self.port)]
        if self.clip is not None:
            command += ["--clip", str(self.clip)]
        deadline = time.monotonic() + timeout
        while True:  # the port may linger for a moment after a kill
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if self._ready(deadline):
                self.starts += 1
                return
            self.kill()
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP test server did not start on port {self.port}")
            time.sleep(0.2)

    def _ready(self, deadline: float) -> bool:
        assert self.process is not None and self.process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                return self.process.stdout.readline().startswith("READY")
            if self.process.poll() is not None:
                return False
        return False

    def kill(self) -> None:
        """Kill the server at once (connections drop, nothing is said to clients)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)
                self.process.kill()
            self.process.wait(timeout=10)
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
            self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing flows."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a paused server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (a stalled source)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._connections.append(connection)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for connection in self._connections:
            connection.close()
