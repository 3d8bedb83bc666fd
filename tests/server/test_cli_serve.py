"""``streamer serve`` as a user runs it: refuses unsafe binds, serves, shuts down on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _streamer(*args: str, **kwargs: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("STREAMER_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "streamer", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def _stop(proc: subprocess.Popen) -> str:
    """SIGTERM (kill if it does not end in 60 s); returns what it wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_serve_when_public_host_without_token_then_refuses_with_message() -> None:
    proc = _streamer("serve", "--host", "0.0.0.0", "--port", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "--token" in err and "--insecure" in err and "Traceback" not in err


def test_serve_when_bad_ice_server_then_refuses_with_message() -> None:
    proc = _streamer("serve", "--ice-server", "http://example.org")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "invalid ICE server" in err and "Traceback" not in err


def test_serve_when_ice_host_not_on_this_machine_then_refuses_with_message() -> None:
    for value, words in (("192.0.2.123", "cannot receive on this address"), ("my-laptop", "IP address")):
        proc = _streamer("serve", "--port", "0", "--ice-host", value)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and words in err and "Traceback" not in err, err


@pytest.mark.parametrize("inference", ["off", "idle"])
def test_serve_when_started_then_answers_and_stops_cleanly_on_sigterm(model: str, inference: str) -> None:
    proc = _streamer("serve", "--port", "0", "--model", model, "--size", "128", "--token", "a-long-enough-token",
                     "--inference-process", inference)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)#token=a-long-enough-token", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        request = urllib.request.Request(match.group(1) + "api/info",
                                         headers={"Authorization": "Bearer a-long-enough-token"})
        with urllib.request.urlopen(request, timeout=30) as response:
            info = json.load(response)
        assert info["model"] == model and info["sessions"] == 0
        children = _children(proc.pid)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert "shutting down" in err and "Traceback" not in err
    # with --inference-process the models ran in a process of their own, which ended with the server
    assert bool(children) == (inference != "off"), children
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "the inference process outlived serve"


def _children(pid: int) -> list[int]:
    """Processes ``pid`` started (Linux)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def test_serve_when_tls_self_signed_then_https_with_printed_fingerprint(model: str) -> None:
    import hashlib
    import socket
    import ssl

    proc = _streamer("serve", "--port", "0", "--model", model, "--size", "128", "--tls-self-signed")
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"open https://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        notes = ""
        while "fingerprint" not in notes:
            notes += proc.stderr.readline()  # type: ignore[union-attr]
        printed = re.search(r"SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", notes)
        assert printed, notes
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=30) as raw, \
                unverified.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = tls.recv(64)
    finally:
        err = _stop(proc)
    served = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert printed.group(1) == served
    assert answer.startswith(b"HTTP/1.1 200")
    assert proc.returncode == 0 and "Traceback" not in err


def test_serve_when_tls_files_wrong_then_refuses_with_message(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    for args, words in ((["--tls-cert", str(tmp_path / "cert.pem")], "go together"),
                        (["--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "no.pem")],
                         "no such file"),
                        (["--tls-self-signed", "--tls-cert", "x", "--tls-key", "y"], "not both")):
        proc = _streamer("serve", "--port", "0", *args)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and words in err and "Traceback" not in err, err


def test_serve_when_port_taken_then_clear_message(model: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _streamer("serve", "--port", str(port), "--model", model, "--size", "128")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
