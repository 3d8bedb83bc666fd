"""Server options: who may bind where, ICE server URLs, limits."""

from __future__ import annotations

import pytest

from streamer.errors import ConfigError
from streamer.server import AudioMode, ServerSettings, is_loopback, parse_ice_server


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"])
def test_is_loopback_when_local_address(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org", ""])
def test_is_loopback_when_reachable_from_elsewhere(host: str) -> None:
    assert not is_loopback(host)


def test_settings_when_default_then_loopback_without_token() -> None:
    settings = ServerSettings()
    assert settings.host == "127.0.0.1" and settings.token is None
    assert settings.ice_servers == () and settings.audio is AudioMode.MUTE


def test_settings_when_public_bind_without_token_then_refused() -> None:
    with pytest.raises(ConfigError, match="--token"):
        ServerSettings(host="0.0.0.0")


@pytest.mark.parametrize("extra", [{"token": "s3cret-token"}, {"insecure": True}])
def test_settings_when_public_bind_with_token_or_insecure_then_allowed(extra: dict) -> None:
    assert ServerSettings(host="0.0.0.0", **extra).host == "0.0.0.0"


@pytest.mark.parametrize("bad", [{"token": "short"}, {"max_sessions": 0}, {"audio": "loud"},
                                 {"port": 70000}, {"max_upload_bytes": 0}, {"idle_timeout": 0},
                                 {"work_niceness": -1}, {"work_niceness": 20}])
def test_settings_when_bad_value_then_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        ServerSettings(**bad)


def test_parse_ice_server_when_stun() -> None:
    server = parse_ice_server("stun:stun.example.org:3478")
    assert server.urls == "stun:stun.example.org:3478" and server.username is None


def test_parse_ice_server_when_turn_with_credentials() -> None:
    server = parse_ice_server("turn:alice:p%40ss@turn.example.org:3478?transport=tcp")
    assert server.urls == "turn:turn.example.org:3478?transport=tcp"
    assert (server.username, server.credential) == ("alice", "p@ss")
    settings = ServerSettings(ice_servers=(server,))
    assert settings.ice_servers_json == [{"urls": server.urls, "username": "alice", "credential": "p@ss"}]


@pytest.mark.parametrize("url", ["http://example.org", "stun:", "turn:host:3478@", "stun:u:p@host",
                                 "turn:nopassword@host:3478", "example.org:3478"])
def test_parse_ice_server_when_malformed_then_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_ice_server(url)


@pytest.mark.parametrize(("host", "ice_hosts", "expected"), [
    ("127.0.0.1", (), ("127.0.0.1",)),
    ("::1", (), ("::1",)),
    ("localhost", (), ("127.0.0.1", "::1")),
    ("0.0.0.0", (), None),  # every interface address (aioice's default)
    ("0.0.0.0", ("[fd00::2]", "192.0.2.2"), ("fd00::2", "192.0.2.2")),
    ("127.0.0.1", ("127.0.0.2",), ("127.0.0.2",)),
])
def test_settings_when_bound_then_host_candidates_follow(host: str, ice_hosts: tuple[str, ...],
                                                         expected: tuple[str, ...] | None) -> None:
    settings = ServerSettings(host=host, insecure=True, ice_hosts=ice_hosts)
    assert settings.host_candidate_addresses == expected


def test_settings_when_timeouts_not_positive_then_config_error() -> None:
    for field in ("header_timeout", "body_timeout"):
        with pytest.raises(ConfigError, match="positive"):
            ServerSettings(**{field: 0})
