"""HTTPS for ``streamer serve``: a certificate from files, or a self-signed one made at start.

Browsers give the camera only to ``https://`` pages (and to ``http://localhost``), so a server
used from a phone or another computer needs TLS (or a reverse proxy that adds it).

.. code-block:: python

    tls = load_certificate("cert.pem", "key.pem")        # ConfigError with the reason
    tls = self_signed_certificate(["myhost", "192.168.1.20"])
    print(tls.fingerprint)                                 # SHA-256, AA:BB:...
    await listen(runner, host, port, tls.context)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["Certificate", "load_certificate", "self_signed_certificate"]

#: a self-signed certificate lasts this long (it is made again at every start)
SELF_SIGNED_DAYS = 30


@dataclass(frozen=True)
class Certificate:
    """A server certificate ready to listen with.

    :param context: the server-side TLS context holding it.
    :param fingerprint: SHA-256 of the certificate, ``AA:BB:...`` (what browsers show).
    :param pem: the certificate in PEM (for clients that should trust it).
    :param self_signed: made at start by :func:`self_signed_certificate`.
    """

    context: ssl.SSLContext
    fingerprint: str
    pem: bytes
    self_signed: bool = False


def _server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _fingerprint(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def load_certificate(cert_file: str | Path, key_file: str | Path) -> Certificate:
    """The certificate (chain) in ``cert_file`` with its private key in ``key_file`` (PEM).

    :raises ConfigError: a file is missing or unreadable, or the key does not match.
    """
    cert_path, key_path = Path(cert_file), Path(key_file)
    for what, path in (("--tls-cert", cert_path), ("--tls-key", key_path)):
        if not path.is_file():
            raise ConfigError(f"{what} {path}: no such file")
    context = _server_context()
    try:
        context.load_cert_chain(cert_path, key_path)
        pem = cert_path.read_bytes()
        fingerprint = _fingerprint(pem)
    except ssl.SSLError as exc:
        raise ConfigError(f"cannot use {cert_path} with {key_path}: {exc.reason or exc} "
                          "(both must be PEM, and the key must belong to the certificate)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the certificate {cert_path}: {exc}") from None
    return Certificate(context, fingerprint, pem)


def self_signed_certificate(names: Iterable[str] = ()) -> Certificate:
    """A new key and a certificate signed by it, valid for ``names`` (host names or IP
    addresses) plus ``localhost``, 127.0.0.1, ::1 and this machine's host name.

    Browsers warn about it once ("not private"); the printed fingerprint lets the user check
    that the certificate they accept is this one.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for name in ["localhost", "127.0.0.1", "::1", socket.gethostname(), *names]:
        try:
            address = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if name and name not in dns:
                dns.append(name)
            continue
        if not address.is_unspecified and address not in ips:
            ips.append(address)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"streamer serve on {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([*map(x509.DNSName, dns), *map(x509.IPAddress, ips)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    context = _server_context()
    # ssl loads keys from files only: a private directory that is removed at once
    with tempfile.TemporaryDirectory(prefix="streamer-tls-") as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_path.write_bytes(pem)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return Certificate(context, _fingerprint(pem), pem, self_signed=True)
