"""ICE: media stays on loopback for a loopback server, works on a host with nothing but ``lo``,
and goes where ``--ice-host`` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.config import ProcessingSize
from streamer.errors import ConfigError
from streamer.server import ServerSettings
from streamer.server.ice import check_bindable, parse_ice_host

from .harness import Caller, ice_addresses, loopback_offer, run, running_server, started_engine
from .netns import loopback_only

ROOT = Path(__file__).resolve().parents[2]


def test_call_when_host_has_only_loopback_then_connects(model: str) -> None:
    argv = loopback_only([sys.executable, "-m", "tests.server.loopback_host", model])
    if argv is None:
        pytest.skip("cannot create a network namespace here (needs unshare and ip, and root or user namespaces)")
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nloopback-only namespace: {result}")
    assert result["interfaces"] == ["lo"]
    assert result["received"] >= 5
    assert result["server_addresses"]["local"] == ["127.0.0.1"]


def test_call_when_server_on_loopback_then_media_stays_on_loopback(model: str) -> None:
    async def scenario() -> tuple[dict, dict]:
        async with started_engine(model) as engine, running_server(engine) as server:
            caller = Caller.sending(limit=300)
            await caller.connect(server)
            await caller.wait_frames(5)
            seen = ice_addresses(server.registry.get(caller.session_id).pc), ice_addresses(caller.pc)
            await caller.close()
            return seen

    server_side, caller_side = run(scenario())
    print(f"\nserver ICE addresses {server_side}; caller's {caller_side}")
    assert server_side == {"local": ["127.0.0.1"], "remote": ["127.0.0.1"]}
    assert caller_side == {"local": ["127.0.0.1"], "remote": ["127.0.0.1"]}


def test_answer_when_ice_host_given_then_only_that_address_offered(model: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    from ..media import pattern_frame
    from .harness import PatternTrack

    async def scenario() -> str:
        settings = ServerSettings(host="0.0.0.0", insecure=True, port=0, size=ProcessingSize(128),
                                  ice_hosts=("127.0.0.1",))
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            track = PatternTrack(lambda i: pattern_frame(i, 120, 160))
            pc.addTrack(track)
            status, body = await server.call("POST", "/api/sessions", json={"sdp": await loopback_offer(pc)})
            await pc.close()
            assert status == 201, body
            return body["sdp"]

    answer = run(scenario())
    addresses = {line.split()[4] for line in answer.splitlines() if line.startswith("a=candidate:")}
    assert addresses == {"127.0.0.1"}


def test_ice_host_when_not_an_address_of_this_machine_then_config_error() -> None:
    assert parse_ice_host("[::1]") == "::1" and parse_ice_host(" 127.0.0.1 ") == "127.0.0.1"
    with pytest.raises(ConfigError, match="IP address"):
        parse_ice_host("my-laptop.local")
    check_bindable(["127.0.0.1"])
    with pytest.raises(ConfigError, match="192.0.2.123"):
        check_bindable(["192.0.2.123"])  # TEST-NET-1: never assigned to this machine


def test_offer_when_server_gathers_on_loopback_then_only_loopback_candidates_kept() -> None:
    import re

    from aiortc import RTCConfiguration, RTCPeerConnection

    from streamer.server.negotiation import check_offer

    from ..media import pattern_frame
    from .harness import PatternTrack

    async def offer() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(PatternTrack(lambda i: pattern_frame(i, 120, 160)))
        sdp = await loopback_offer(pc)
        await pc.close()
        return sdp

    loopback = run(offer())
    line = next(x for x in loopback.splitlines() if x.startswith("a=candidate:"))
    lan = line.replace(" 127.0.0.1 ", " 192.0.2.7 ").replace(line.split()[0], "a=candidate:lan", 1)
    both = loopback.replace(line, line + "\r\n" + lan)
    lan_only = loopback.replace(line, lan)

    def addresses(sdp: str) -> set[str]:
        return set(re.findall(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) ", sdp))

    assert addresses(check_offer(both).for_hosts(("127.0.0.1",)).sdp) == {"127.0.0.1"}
    assert addresses(check_offer(both).for_hosts(None).sdp) == {"127.0.0.1", "192.0.2.7"}
    assert addresses(check_offer(both).for_hosts(("192.0.2.2",)).sdp) == {"127.0.0.1", "192.0.2.7"}
    # a caller with no loopback candidate (a browser without --allow-loopback...) keeps its own
    assert addresses(check_offer(lan_only).for_hosts(("127.0.0.1",)).sdp) == {"192.0.2.7"}
