"""HTTPS: a self-signed certificate made at start (its printed fingerprint is the one clients
see), a certificate from files, and clear errors for files that do not fit."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from pathlib import Path

import pytest

from streamer.errors import ConfigError
from streamer.server.tls import load_certificate, self_signed_certificate

from .harness import Caller, run, running_server, started_engine


async def _served_fingerprint(port: int) -> str:
    """SHA-256 of the certificate the server presents in its TLS handshake."""
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=unverified)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def test_https_when_self_signed_then_call_works_and_fingerprint_is_the_served_one(
        model: str, caplog: pytest.LogCaptureFixture) -> None:
    certificate = self_signed_certificate(["my-laptop"])
    caplog.set_level(logging.DEBUG)

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, tls=certificate) as server:
            port = int(server.url.rsplit(":", 1)[1])
            status, info = await server.call("GET", "/api/info")
            caller = Caller.sending()
            await caller.connect(server)  # signalling over HTTPS; media as always (DTLS-SRTP)
            await caller.wait_frames(3)
            await caller.close()
            # plain HTTP to the HTTPS port: refused, the server keeps serving
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            plain = await asyncio.wait_for(reader.read(), 15)
            writer.close()
            again, _ = await server.call("GET", "/api/info")
            return {"url": server.url, "status": status, "info": info, "served": await _served_fingerprint(port),
                    "plain": plain, "again": again}

    r = run(scenario())
    assert r["url"].startswith("https://") and r["status"] == 200 and r["again"] == 200
    assert r["served"] == certificate.fingerprint
    assert not r["plain"].startswith(b"HTTP/1.1 200")
    assert not [(rec.name, rec.getMessage()) for rec in caplog.records if rec.exc_info], "a traceback was logged"


def test_certificate_when_loaded_from_files_then_same_fingerprint_and_bad_files_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    made = self_signed_certificate()
    # the key of a self-signed certificate is not kept: make a pair with a known key instead
    key = ec.generate_private_key(ec.SECP256R1())
    cert_pem = _certificate_for(key)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    loaded = load_certificate(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert loaded.pem == cert_pem and not loaded.self_signed
    assert len(loaded.fingerprint) == 95 and loaded.fingerprint != made.fingerprint
    (tmp_path / "other.pem").write_bytes(made.pem)  # a certificate whose key this is not
    with pytest.raises(ConfigError, match="must belong to the certificate"):
        load_certificate(tmp_path / "other.pem", tmp_path / "key.pem")
    with pytest.raises(ConfigError, match="no such file"):
        load_certificate(tmp_path / "missing.pem", tmp_path / "key.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="junk.pem"):
        load_certificate(tmp_path / "junk.pem", tmp_path / "key.pem")


def _certificate_for(key: object) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())  # type: ignore[attr-defined]
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)
