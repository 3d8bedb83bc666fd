"""WebRTC server: a browser (or any WebRTC app) sends its camera, gets it back stylized.

Needs the ``webrtc`` extra (aiortc, aiohttp). Start it with ``streamer serve`` or build the app
yourself with :func:`create_app`; the JSON API is described in ``DEVELOPERS.md``.
"""

from .app import create_app
from .sessions import Session, SessionRegistry, SessionState
from .settings import AudioMode, ServerSettings, is_loopback, parse_ice_server
from .styling import Gallery, GalleryStyle

__all__ = [
    "AudioMode",
    "Gallery",
    "GalleryStyle",
    "ServerSettings",
    "Session",
    "SessionRegistry",
    "SessionState",
    "create_app",
    "is_loopback",
    "parse_ice_server",
]
