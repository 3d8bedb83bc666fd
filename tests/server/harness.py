"""A real server on 127.0.0.1 and real aiortc callers, all in one event loop (no mocks).

Media stays on loopback: the server (bound to 127.0.0.1) offers only 127.0.0.1 as an ICE host
candidate, and the callers here gather on 127.0.0.1 only (:func:`loopback_offer`), so no packet
goes to the machine's other addresses and the suite passes on a host with nothing but ``lo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import io
import itertools
import json
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from streamer.config import ProcessingSize
from streamer.engine import Engine
from streamer.server import Gallery, GalleryStyle, ServerSettings, create_app
from streamer.server.context import CONTEXT, ServerContext
from streamer.server.ice import host_candidates
from streamer.server.runner import create_runner, listen
from streamer.server.tls import Certificate

CLOCK = 90_000
LOOPBACK = ("127.0.0.1",)
NO_IMAGE = np.zeros((0, 0, 3), np.uint8)


def stripes(height: int = 256, width: int = 256) -> np.ndarray:
    """A bold red/yellow diagonal-stripe style image."""
    y, x = np.mgrid[0:height, 0:width]
    on = ((x + y) // 16) % 2 == 0
    image = np.zeros((height, width, 3), np.uint8)
    image[on] = (220, 30, 30)
    image[~on] = (250, 220, 40)
    return image


def checker(height: int = 256, width: int = 256) -> np.ndarray:
    """A blue/white checkerboard style image."""
    y, x = np.mgrid[0:height, 0:width]
    on = ((x // 24) + (y // 24)) % 2 == 0
    image = np.full((height, width, 3), 245, np.uint8)
    image[on] = (20, 40, 160)
    return image


def smooth_png(side: int) -> bytes:
    """A ``side`` x ``side`` PNG of smooth ramps: small in bytes, as costly to decode as any
    image of that many pixels (3999: ~60 kB, 16 megapixels)."""
    ramp = (np.arange(side, dtype=np.uint32) * 255 // max(side - 1, 1)).astype(np.uint8)
    image = np.empty((side, side, 3), np.uint8)
    image[..., 0] = ramp[None, :]
    image[..., 1] = ramp[:, None]
    image[..., 2] = 90
    return png_bytes(image)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB array as PNG."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


async def make_gallery(engine: Engine) -> Gallery:
    """Two styles that look very different: the most different pair of built-ins (judged on a
    stylized test scene), or two generated style images when the model has fewer than two."""
    builtins = engine.styles.builtins
    if len(builtins) < 2:
        extras = {}
        for name, image in (("stripes", stripes()), ("checker", checker())):
            embedding = await engine.styles.embedding_from_bytes(png_bytes(image), name)
            extras[name] = GalleryStyle(name, name.title(), embedding)
        return Gallery({}, extras)
    from streamer.config import QueuePolicy
    from streamer.frames import Frame
    from streamer.server.previews import preview_scene

    stream = engine.open_stream("pick-styles", QueuePolicy.LOSSLESS, capacity=1, size=ProcessingSize(128))
    try:
        looks = {}
        for name, style in builtins.items():
            await stream.set_style(style.embedding)
            looks[name] = (await stream.stylize(Frame(preview_scene()))).image.astype(np.int16)
    finally:
        stream.close()
    first, second = max(itertools.combinations(looks, 2),
                        key=lambda pair: float(np.mean(np.abs(looks[pair[0]] - looks[pair[1]]))))
    return Gallery({first: builtins[first], second: builtins[second]})


async def loopback_offer(pc: RTCPeerConnection) -> str:
    """Create ``pc``'s offer with ICE host candidates on 127.0.0.1 only; return its SDP."""
    with host_candidates(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


def ice_addresses(pc: RTCPeerConnection) -> dict[str, list[str]]:
    """The addresses ``pc``'s ICE agent gathered (local) and knows of the other end (remote,
    peer-reflexive ones it learnt from incoming checks included): where its packets can go."""
    transports = {t.receiver.transport.transport for t in pc.getTransceivers()}
    if pc.sctp is not None:
        transports.add(pc.sctp.transport.transport)
    local = {c.ip for t in transports for c in t.iceGatherer.getLocalCandidates()}
    remote = {c.ip for t in transports for c in t.getRemoteCandidates()}
    return {"local": sorted(local), "remote": sorted(remote)}


@dataclass
class Server:
    """A running server: its base URL, its shared objects, and an HTTP client for it."""

    url: str
    context: ServerContext
    http: aiohttp.ClientSession
    token: str | None = None
    last_headers: Any = None  #: the headers of the last response :meth:`call` got

    @property
    def registry(self) -> Any:
        return self.context.registry

    @property
    def style_names(self) -> list[str]:
        return [s["name"] for s in self.context.gallery.listing()]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Send a request; return (status, JSON body or raw bytes)."""
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as response:
            raw = await response.read()
            self.last_headers = response.headers
            if response.content_type == "application/json":
                return response.status, json.loads(raw)
            return response.status, raw

    async def wait_sessions(self, count: int, limit: float = 20.0) -> float:
        """Wait (bounded) until ``count`` sessions remain; return the seconds it took."""
        started = time.monotonic()
        while len(self.registry) != count:
            if time.monotonic() - started > limit:
                raise AssertionError(f"{len(self.registry)} sessions still open after {limit} s, wanted {count}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def running_server(engine: Engine, settings: ServerSettings | None = None,
                         gallery: Gallery | None = None, tls: Certificate | None = None,
                         sources: dict[str, Any] | None = None) -> AsyncIterator[Server]:
    """Serve ``engine`` on 127.0.0.1 (a free port) for the duration of the block; over HTTPS
    with ``tls`` (the client trusts that certificate and no other); live ``sources`` are offered
    as named streams."""
    settings = settings or ServerSettings(port=0, size=ProcessingSize(128))
    app = create_app(engine, settings, gallery or await make_gallery(engine), sources=sources)
    runner = create_runner(app, settings)
    await runner.setup()
    port = await listen(runner, "127.0.0.1", 0, tls.context if tls else None)
    trust = ssl.create_default_context(cadata=tls.pem.decode()) if tls else None
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust if trust else True)) as http:
            yield Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", app[CONTEXT], http, settings.token)
    finally:
        await runner.cleanup()


class PatternTrack(MediaStreamTrack):
    """A paced camera stand-in: ``image_at(i)`` for frame i, ``fps`` frames a second, ``limit`` in all."""

    kind = "video"

    def __init__(self, image_at: Callable[[int], np.ndarray], fps: float = 15.0, limit: int = 10_000,
                 cycle: int | None = None) -> None:
        super().__init__()
        self.image_at = image_at
        self.fps = fps
        self.limit = limit
        self.cycle = cycle  #: image_at repeats every ``cycle`` frames: convert each image once
        self.sent = 0
        self.sent_at: dict[int, float] = {}
        self._start: float | None = None
        self._converted: dict[int, VideoFrame] = {}

    def _video_frame(self, index: int) -> VideoFrame:
        if self.cycle is None:
            return VideoFrame.from_ndarray(self.image_at(index), format="rgb24")
        key = index % self.cycle
        if key not in self._converted:
            self._converted[key] = VideoFrame.from_ndarray(self.image_at(key), format="rgb24").reformat(
                format="yuv420p")
        return self._converted[key]

    async def recv(self) -> VideoFrame:
        if self.readyState != "live" or self.sent >= self.limit:
            self.stop()
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = self._video_frame(self.sent)
        frame.pts = int(self.sent * CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, CLOCK)
        self.sent_at[frame.pts] = time.monotonic()
        self.sent += 1
        return frame


@dataclass
class Received:
    """One frame the caller got back."""

    image: np.ndarray
    pts: int
    at: float


#: the test peers not garbage-collected yet (closed by :func:`run` when a scenario ends)
_PEERS: weakref.WeakSet[Receiver] = weakref.WeakSet()


@dataclass(eq=False)
class Receiver:
    """An aiortc peer (no public STUN) that keeps the video frames it receives."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    frames: deque[Received] = field(default_factory=lambda: deque(maxlen=400))
    received: int = 0
    keep_images: bool = True  #: False: keep only timestamps of what comes back (cheaper)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _PEERS.add(self)

    def read_video(self) -> None:
        """Read every video track the peer receives (call before negotiating)."""

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack, key: str = "") -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.received += 1
            image = frame.to_ndarray(format="rgb24") if self.keep_images else NO_IMAGE
            self.keep(key, Received(image, frame.pts, time.monotonic()))

    def keep(self, key: str, frame: Received) -> None:
        """Store one received frame (``key``: which track it came on, for subclasses)."""
        self.frames.append(frame)

    async def wait_frames(self, count: int, limit: float = 30.0) -> None:
        """Wait (bounded) until ``count`` frames came in all."""
        deadline = time.monotonic() + limit
        while self.received < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.received} frames came back in {limit} s (wanted {count})")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Hang up and stop reading."""
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(eq=False)
class Caller(Receiver):
    """An aiortc peer that calls the server, as a browser would (no public STUN)."""

    track: PatternTrack = field(default_factory=lambda: PatternTrack(lambda i: NO_IMAGE))
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=400))
    session_id: str | None = None

    @classmethod
    def sending(cls, image_at: Callable[[int], np.ndarray] | None = None, fps: float = 15.0,
                limit: int = 600, cycle: int | None = None, keep_images: bool = True) -> Caller:
        """A caller whose camera shows ``image_at(i)`` (default: a moving 160x120 pattern)."""
        from ..media import pattern_frame

        track = PatternTrack(image_at or (lambda i: pattern_frame(i, 120, 160)), fps, limit, cycle)
        return cls(track=track, keep_images=keep_images)

    async def connect(self, server: Server, **style: Any) -> None:
        """Offer, get the answer, and start reading what comes back."""
        self.pc.addTrack(self.track)
        self.channel = self.pc.createDataChannel("control")
        self.channel.on("message", lambda m: self.messages.append({**json.loads(m), "_at": time.monotonic()}))
        self.read_video()
        sdp = await loopback_offer(self.pc)
        status, body = await server.call("POST", "/api/sessions", json={"type": "offer", "sdp": sdp, **style})
        assert status == 201, body
        self.session_id = body["session_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))

    async def wait_message(self, kind: str, limit: float = 15.0,
                           match: Callable[[dict[str, Any]], bool] = lambda m: True) -> dict[str, Any]:
        """Wait (bounded) for a data channel message of ``kind``; consume messages up to it."""
        return await next_message(self.messages, kind, limit, match)

    async def wait_channel_open(self, limit: float = 15.0) -> None:
        deadline = time.monotonic() + limit
        while self.channel.readyState != "open":
            if time.monotonic() > deadline:
                raise AssertionError("the data channel did not open")
            await asyncio.sleep(0.02)

    def send(self, message: dict[str, Any]) -> None:
        self.channel.send(json.dumps(message))

    def send_text(self, text: str) -> None:
        """Send ``text`` as it is (not necessarily JSON) on the data channel."""
        self.channel.send(text)

    async def close(self) -> None:
        """Hang up and stop reading."""
        self.track.stop()
        await super().close()


async def next_message(messages: deque[dict[str, Any]], kind: str, limit: float = 15.0,
                       match: Callable[[dict[str, Any]], bool] = lambda m: True) -> dict[str, Any]:
    """Wait (bounded) for a data channel message of ``kind`` in ``messages`` (filled as they
    arrive); consume the messages up to it."""
    deadline = time.monotonic() + limit
    while True:
        while messages:
            message = messages.popleft()
            if message.get("type") == kind and match(message):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind!r} message in {limit} s")
        await asyncio.sleep(0.02)


def run(coro: Any, limit: float = 120.0) -> Any:
    """Run a test scenario in a fresh event loop, bounded by ``limit`` seconds; the test peers it
    leaves open (a failed scenario) are closed, so their decoder threads do not outlive it."""

    async def bounded() -> Any:
        try:
            return await asyncio.wait_for(coro, limit)
        finally:
            await asyncio.gather(*(peer.close() for peer in list(_PEERS)), return_exceptions=True)

    return asyncio.run(bounded())


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two same-sized images (0..255)."""
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@contextlib.asynccontextmanager
async def started_engine(model: str, max_batch: int = 4) -> AsyncIterator[Engine]:
    """A CPU engine for ``model``, stopped after the block."""
    from streamer.inference.backends import BackendOptions

    engine = Engine.create(model, BackendOptions(backend="cpu", threads=2), max_batch=max_batch,
                           use_disk_cache=False)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop(drain=False)
