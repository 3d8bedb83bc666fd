"""WHIP and WHEP clients for the tests: an aiortc WHEP viewer and publisher, and FFmpeg's WHIP
muxer in a subprocess (a client nobody here wrote)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiortc import RTCSessionDescription

from .harness import PatternTrack, Receiver, Server, loopback_offer

ROOT = Path(__file__).resolve().parents[2]
SDP = {"Content-Type": "application/sdp"}


@dataclass(eq=False)
class WhepViewer(Receiver):
    """An aiortc WHEP player: receives one stream's video (and audio, if asked)."""

    location: str | None = None
    audio_frames: int = 0

    async def watch(self, server: Server, name: str, audio: bool = False) -> None:
        """Offer to receive, POST it to ``/whep/NAME``, apply the answer."""
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.on("track", self._count_audio)
        self.read_video()
        sdp = await loopback_offer(self.pc)
        status, body = await server.call("POST", f"/whep/{name}", data=sdp, headers=SDP)
        assert status == 201, body
        await self.pc.setRemoteDescription(RTCSessionDescription(body.decode(), "answer"))
        self.location = server.last_headers.get("Location")

    def _count_audio(self, track) -> None:  # noqa: ANN001
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(self._drain_audio(track)))

    async def _drain_audio(self, track) -> None:  # noqa: ANN001
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.audio_frames += 1

    async def leave(self, server: Server) -> int:
        """DELETE the session; returns the status."""
        assert self.location is not None
        status, _ = await server.call("DELETE", self.location)
        await self.close()
        return status


@dataclass(eq=False)
class WhipPublisher(Receiver):
    """An aiortc WHIP client: publishes a paced test pattern (and a tone, if asked)."""

    track: PatternTrack | None = None
    location: str | None = None

    async def publish(self, server: Server, name: str, query: str = "", audio: bool = False) -> tuple[int, object]:
        """POST the offer to ``/whip/NAME?query``; returns (status, body) and applies a 201's answer."""
        from aiortc.mediastreams import AudioStreamTrack

        from ..media import pattern_frame

        self.track = self.track or PatternTrack(lambda i: pattern_frame(i, 120, 160), fps=15)
        self.pc.addTransceiver(self.track, direction="sendonly")
        if audio:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        sdp = await loopback_offer(self.pc)
        status, body = await server.call("POST", f"/whip/{name}" + (f"?{query}" if query else ""),
                                         data=sdp, headers=SDP)
        if status == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(body.decode(), "answer"))
            self.location = server.last_headers.get("Location")
        return status, body

    async def close(self) -> None:
        if self.track is not None:
            self.track.stop()
        await super().close()


@contextlib.asynccontextmanager
async def ffmpeg_publisher(url: str, token: str | None = None, seconds: float = 20.0,
                           size: str = "640x480", fps: float = 30.0) -> AsyncIterator[asyncio.subprocess.Process]:
    """FFmpeg's WHIP muxer publishing to ``url`` from a subprocess (killed after the block)."""
    args = [sys.executable, "-m", "tests.server.ffmpeg_whip", url, "--seconds", str(seconds),
            "--size", size, "--fps", str(fps)] + (["--token", token] if token else [])
    process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_line(process: asyncio.subprocess.Process, limit: float = 60.0) -> str:
    """The subprocess's next line of output (bounded wait)."""
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), limit)).decode().strip()
