"""Publishing stylized frames to a WHIP server (RFC 9725): a streaming platform's WebRTC ingest,
another ``streamer serve``, MediaMTX, Janus...

FFmpeg's own WHIP muxer does the WebRTC part (ICE, DTLS, SRTP, H.264 baseline over RTP). One
thing is supplied here: its DTLS certificate. The FFmpeg in PyAV's wheels (GnuTLS) makes a
P-224 key, which WebRTC stacks refuse (OpenSSL, as in aiortc, answers ``illegal_parameter``:
P-224 is not among the curves it offers; browsers' BoringSSL does the same), so the sink makes
a P-256 certificate of its own and passes it with ``cert_file``/``key_file``.

.. code-block:: python

    sink = WhipSink("https://ingest.example.com/whip/live", token="s3cret")
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import av

from ..errors import ConfigError
from ..sources.base import redact
from .publish import H264Publisher

__all__ = ["WhipSink", "is_whip_url", "write_dtls_identity"]


def is_whip_url(url: str) -> bool:
    """True for ``http://`` and ``https://`` URLs (a WHIP endpoint is an HTTP URL)."""
    return urlsplit(url).scheme.lower() in ("http", "https") and bool(urlsplit(url).netloc)


def write_dtls_identity(folder: Path) -> tuple[Path, Path]:
    """Write a fresh self-signed ECDSA P-256 certificate and its key (PEM) into ``folder``;
    returns (certificate, key). WebRTC only checks the certificate's fingerprint, which the SDP
    offer carries."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "streamer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "whip-cert.pem", folder / "whip-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class WhipSink(H264Publisher):
    """Encodes frames with libx264 (baseline, ``zerolatency``) and publishes them over WHIP.

    :param url: the WHIP endpoint (``http(s)://host/whip/NAME``).
    :param token: bearer token the endpoint wants (``Authorization: Bearer TOKEN``).
    :param crf: x264 quality (lower is better).
    :param keyframe_seconds: a keyframe at least this often, so new viewers start quickly.
    :param timeout: seconds to wait for the server (HTTP, then the WebRTC handshake).
    """

    protocol = "whip"

    def __init__(self, url: str, *, token: str | None = None, crf: int = 23, keyframe_seconds: float = 1.0,
                 timeout: float = 5.0) -> None:
        if not is_whip_url(url):
            raise ConfigError(f"not a WHIP endpoint (an http:// or https:// URL): {redact(url)}")
        super().__init__(url, crf=crf, keyframe_seconds=keyframe_seconds, timeout=timeout, profile="baseline")
        self.token = token
        self._identity: tempfile.TemporaryDirectory[str] | None = None

    def check(self) -> None:
        if "whip" not in av.formats_available:
            raise ConfigError("this FFmpeg (PyAV) has no WHIP muxer: PyAV 15 or newer brings one")
        try:
            import cryptography  # noqa: F401
        except ImportError:
            raise ConfigError("publishing over WHIP needs the cryptography package: "
                              "pip install 'streamer[webrtc]'") from None

    def connect(self) -> av.container.OutputContainer:
        if self._identity is None:
            self._identity = tempfile.TemporaryDirectory(prefix="streamer-whip-")
        cert, key = write_dtls_identity(Path(self._identity.name))
        options = {"cert_file": str(cert), "key_file": str(key),
                   "handshake_timeout": str(int(self.timeout * 1000))}
        if self.token:
            options["authorization"] = self.token
        return av.open(self.url, "w", format="whip", options=options, timeout=(self.timeout, self.timeout))

    def close(self) -> None:
        super().close()
        if self._identity is not None:
            self._identity.cleanup()
            self._identity = None
