"""What ``streamer serve`` was asked for, checked once, before anything listens."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiortc import RTCIceServer

from ..config import ProcessingSize
from ..errors import ConfigError
from .ice import parse_ice_host
from .names import valid_name

__all__ = ["AudioMode", "ServerSettings", "is_loopback", "parse_ice_server"]


class AudioMode(enum.StrEnum):
    """What happens to the browser's microphone track."""

    ECHO = "echo"  #: sent back to the browser as it came
    MUTE = "mute"  #: consumed and discarded; nothing is sent back


def is_loopback(host: str) -> bool:
    """True if ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_ice_server(url: str) -> RTCIceServer:
    """Parse ``stun:HOST[:PORT]`` or ``turn[s]:USER:PASSWORD@HOST[:PORT][?transport=tcp]``.

    :raises ConfigError: the URL is not a STUN/TURN URL.
    """
    scheme, _, rest = url.partition(":")
    if scheme not in ("stun", "stuns", "turn", "turns") or not rest or rest.startswith("//"):
        raise ConfigError(f"invalid ICE server {url!r}: use stun:HOST:PORT or turn:USER:PASSWORD@HOST:PORT")
    if "@" not in rest:
        return RTCIceServer(urls=url)
    if scheme.startswith("stun"):
        raise ConfigError(f"invalid ICE server {url!r}: STUN servers take no credentials")
    credentials, _, address = rest.rpartition("@")
    username, sep, password = credentials.partition(":")
    if not (username and sep and address):
        raise ConfigError(f"invalid ICE server {url!r}: TURN credentials must be USER:PASSWORD@")
    return RTCIceServer(urls=f"{scheme}:{address}", username=unquote(username), credential=unquote(password))


@dataclass(frozen=True)
class ServerSettings:
    """Options of the WebRTC server.

    :param host: address to bind; anything but loopback needs ``token`` or ``insecure``.
    :param token: shared secret every API call must carry (``Authorization: Bearer ...``).
    :param max_sessions: concurrent sessions; one more gets HTTP 503.
    :param ice_servers: STUN/TURN servers for both ends; none by default (no public STUN).
    :param audio: ``echo`` or ``mute``.
    :param size: processing resolution of every session (same shapes batch together).
    :param max_upload_bytes: largest style image accepted.
    :param max_upload_pixels: largest style image accepted, in pixels (checked before decoding).
    :param idle_timeout: seconds without video from a connected peer before its session is freed.
    :param connect_timeout: seconds a new session may take to deliver its first frame.
    :param header_timeout: seconds a connection may take to send a request's headers (from
        connecting, or from its previous response) before it is closed.
    :param body_timeout: seconds a request body may pause before the request is refused (408).
    :param ice_hosts: addresses to offer as ICE host candidates (``--ice-host``); by default
        the loopback address with a loopback ``host``, else every interface address.
    :param room_size: participants allowed in one call (``--room-size``).
    :param max_rooms: calls at once.
    :param rooms: the only room names allowed (``--room``); empty: any valid name, created on
        first join and gone when empty.
    :param max_streams: published streams at once (WHIP and ``--source``).
    :param max_viewers: WHEP viewers at once, all streams together.
    :param work_niceness: how much nicer than the event loop's thread every other thread of the
        server runs (inference, codecs, decodes; 0 to 19; 0: the same priority, the default:
        on its own it costs frames and gains no latency, see ``streamer serve --work-niceness``).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    insecure: bool = False
    max_sessions: int = 4
    ice_servers: tuple[RTCIceServer, ...] = ()
    audio: AudioMode = AudioMode.MUTE
    size: ProcessingSize = field(default_factory=lambda: ProcessingSize(256))
    max_upload_bytes: int = 8 * 1024 * 1024
    max_upload_pixels: int = 16_000_000
    idle_timeout: float = 5.0
    connect_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    ice_hosts: tuple[str, ...] = ()
    room_size: int = 4
    max_rooms: int = 4
    rooms: tuple[str, ...] = ()
    max_streams: int = 4
    max_viewers: int = 16
    work_niceness: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "audio", AudioMode(self.audio))
        except ValueError:
            modes = ", ".join(m.value for m in AudioMode)
            raise ConfigError(f"--audio must be one of {modes}, not {self.audio!r}") from None
        if self.max_sessions < 1:
            raise ConfigError("--max-sessions must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"invalid port {self.port}")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("the token must be at least 8 characters")
        if self.max_upload_bytes < 1 or self.max_upload_pixels < 1:
            raise ConfigError("upload limits must be positive")
        if min(self.idle_timeout, self.connect_timeout, self.header_timeout, self.body_timeout) <= 0:
            raise ConfigError("timeouts must be positive")
        object.__setattr__(self, "ice_hosts", tuple(parse_ice_host(a) for a in self.ice_hosts))
        if not 2 <= self.room_size <= 16:
            raise ConfigError(f"--room-size must be between 2 and 16, not {self.room_size}")
        if min(self.max_rooms, self.max_streams, self.max_viewers) < 0:
            raise ConfigError("--max-rooms, --max-streams and --max-viewers must not be negative")
        if not 0 <= self.work_niceness <= 19:
            raise ConfigError(f"--work-niceness must be between 0 and 19, not {self.work_niceness}")
        for room in self.rooms:
            if not valid_name(room):
                raise ConfigError(f"--room {room!r}: use 1-64 letters, digits, '-' or '_'")
        if not is_loopback(self.host) and self.token is None and not self.insecure:
            raise ConfigError(
                f"binding {self.host} lets other machines use the camera stream: give --token "
                "(or $STREAMER_TOKEN), or --insecure to allow anyone who can reach the port")

    @property
    def host_candidate_addresses(self) -> tuple[str, ...] | None:
        """Where the server gathers ICE host candidates; ``None``: every interface address.

        A loopback bind serves this machine only, so its media stays on loopback too (and
        works on a machine that has nothing but loopback, where aioice alone finds nothing).
        """
        if self.ice_hosts:
            return self.ice_hosts
        if is_loopback(self.host):
            if self.host == "localhost":
                return ("127.0.0.1", "::1")
            return (str(ipaddress.ip_address(self.host.strip("[]"))),)
        return None

    @property
    def ice_servers_json(self) -> list[dict[str, object]]:
        """The ICE servers in the browser's ``RTCIceServer`` format."""
        servers: list[dict[str, object]] = []
        for server in self.ice_servers:
            entry: dict[str, object] = {"urls": server.urls}
            if server.username is not None:
                entry["username"] = server.username
                entry["credential"] = server.credential
            servers.append(entry)
        return servers

    @property
    def max_calls(self) -> int:
        """Peer connections of publishers, viewers and call participants allowed at once."""
        return self.max_streams + self.max_viewers + self.max_rooms * self.room_size
