"""WHIP ingest and WHEP playback with real clients on loopback: FFmpeg's own WHIP muxer publishes,
aiortc WHEP players watch; bad requests get the RFC's answers."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from streamer.config import ProcessingSize
from streamer.server import ServerSettings

from ..media import pattern_frame
from .harness import mean_abs_diff, run, running_server, started_engine
from .wish_clients import SDP, WhepViewer, WhipPublisher, ffmpeg_publisher, read_line

TOKEN = "whip-test-token"


def _settings(**overrides: object) -> ServerSettings:
    return ServerSettings(port=0, size=ProcessingSize(128), **overrides)  # type: ignore[arg-type]


@pytest.mark.slow
def test_whip_when_ffmpeg_publishes_then_whep_viewers_get_it_stylized_with_one_inference(model: str) -> None:
    sources = [pattern_frame(i * 4, 480, 640) for i in range(30)]

    async def scenario() -> dict:
        async with started_engine(model) as engine, \
                running_server(engine, _settings(token=TOKEN)) as server:
            style = server.style_names[0]
            async with ffmpeg_publisher(f"{server.url}/whip/cam?style={style}", TOKEN, seconds=40) as ffmpeg:
                line = await read_line(ffmpeg)
                assert line == "CONNECTED", line
                broadcast = server.context.streams.get("cam")
                viewers = [WhepViewer(), WhepViewer()]
                for viewer in viewers:
                    await viewer.watch(server, "cam")
                for viewer in viewers:
                    await viewer.wait_frames(5, limit=60)
                got0, t0, before = viewers[0].received, time.monotonic(), broadcast.snapshot()
                engine0 = engine.stats()["frames"]
                await asyncio.sleep(4.0)
                got1, t1, snapshot = viewers[0].received, time.monotonic(), broadcast.snapshot()
                inferences = engine.stats()["frames"] - engine0
                lanes = [name for name in engine.stats()["streams"] if "cam" in name]
                image = viewers[0].frames[-1].image
                other = viewers[1].frames[-1].image
                statuses = [await viewer.leave(server) for viewer in viewers]
                await asyncio.sleep(0.5)
                after_leaving = broadcast.snapshot()
            # the publisher's DELETE (or its hang-up) ended the stream
            ended = await _wait_for(lambda: len(server.context.streams) == 0)
            return {"image": image, "other": other, "fps": (got1 - got0) / (t1 - t0),
                    "inferences": inferences, "frames_in": snapshot["frames_in"] - before["frames_in"],
                    "lanes": lanes, "snapshot": snapshot,
                    "statuses": statuses, "after": after_leaving, "ended": ended,
                    "open": server.context.calls.open_peer_connections}

    r = run(scenario(), limit=240)
    nearest_source = min(mean_abs_diff(r["image"], s) for s in sources)
    print(f"\nWHEP viewer: {r['image'].shape[1]}x{r['image'].shape[0]} at {r['fps']:.1f} fps; "
          f"{r['inferences']} inferences for {r['frames_in']} frames in; nearest source frame differs by "
          f"{nearest_source:.1f}; stream: {r['snapshot']}")
    assert r["image"].shape == (480, 640, 3)
    assert nearest_source > 20.0, "the viewer got the camera picture, not a stylized one"
    assert r["fps"] >= 10.0
    assert r["snapshot"]["viewers"] == 2 and r["snapshot"]["codecs"] == ["VP8"]
    # frames already in the pipeline at the first reading (engine queue, a batch of 4) are
    # inferred inside the window: a few more inferences than frames in; two viewers would double it
    in_flight = 8
    assert r["lanes"] == ["whip-cam"] and r["inferences"] <= r["frames_in"] + in_flight, \
        "two viewers must not cost two inferences per frame"
    assert r["statuses"] == [200, 200] and r["after"]["viewers"] == 0
    assert r["ended"] and r["open"] == 0


async def _wait_for(predicate, limit: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_whip_when_requests_are_bad_then_refused_with_the_rfc_status(model: str) -> None:
    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings(token=TOKEN)) as server:
            results = {}
            publisher = WhipPublisher()
            server.token = None
            results["no token"] = (await publisher.publish(server, "cam"))[0]
            await publisher.close()
            server.token = TOKEN
            results["garbage"] = (await server.call("POST", "/whip/cam", data="hello", headers=SDP))[0]
            results["json"] = (await server.call("POST", "/whip/cam", json={"sdp": "v=0"}))[0]
            viewer_offer = WhepViewer()
            viewer_offer.pc.addTransceiver("video", direction="recvonly")
            from .harness import loopback_offer

            recvonly = await loopback_offer(viewer_offer.pc)
            results["no video"] = await server.call("POST", "/whip/cam", data=recvonly, headers=SDP)
            await viewer_offer.close()
            results["bad name"] = (await server.call("POST", "/whip/" + "x" * 65, data=recvonly, headers=SDP))
            results["bad style"] = (await _publish_status(server, "cam", "style=nope"))
            results["unknown stream"] = await server.call("POST", "/whep/nobody", data=recvonly, headers=SDP)
            good = WhipPublisher()
            status, _ = await good.publish(server, "cam")
            assert status == 201
            location = good.location
            results["taken"] = await _publish_status(server, "cam")
            results["patch"] = (await server.call("PATCH", location, data="a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                                  headers={"Content-Type": "application/trickle-ice-sdpfrag"}))[0]
            results["patch allows"] = server.last_headers.get("Allow")
            results["get session"] = (await server.call("GET", location))[0]
            results["unknown session"] = (await server.call("DELETE", "/whip/cam/" + "A" * 22))[0]
            results["delete"] = (await server.call("DELETE", location))[0]
            results["delete again"] = (await server.call("DELETE", location))[0]
            await good.close()
            return results

    r = run(scenario(), limit=180)
    print(f"\n{r}")
    assert r["no token"] == 401
    assert r["garbage"] == 400 and r["json"] == 415
    status, body = r["no video"]
    assert status == 400 and "sends no video" in body["error"]
    status, body = r["bad name"]
    assert status == 400 and "at most 64" in body["error"]
    status, body = r["bad style"]
    assert status == 400 and "nope" in body["error"]
    status, body = r["unknown stream"]
    assert status == 404 and "nobody" in body["error"]
    status, body = r["taken"]
    assert status == 409 and "already being published" in body["error"]
    assert r["patch"] == 405 and r["patch allows"] == "DELETE" and r["get session"] == 405
    assert r["unknown session"] == 404 and r["delete"] == 200 and r["delete again"] == 404


async def _publish_status(server, name: str, query: str = "") -> tuple[int, object]:  # noqa: ANN001
    publisher = WhipPublisher()
    try:
        return await publisher.publish(server, name, query)
    finally:
        await publisher.close()


def test_whip_when_style_changed_over_the_api_then_viewers_see_it_and_audio_passes(model: str) -> None:
    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings()) as server:
            first, second = server.style_names
            content = pattern_frame(3, 120, 160)
            publisher = WhipPublisher()
            from .harness import PatternTrack

            publisher.track = PatternTrack(lambda i: content, fps=15)
            status, body = await publisher.publish(server, "desk", f"style={first}", audio=True)
            assert status == 201, body
            viewer = WhepViewer()
            await viewer.watch(server, "desk", audio=True)
            await viewer.wait_frames(5, limit=60)
            before = viewer.frames[-1].image
            status, snapshot = await server.call("POST", "/api/streams/desk/style", json={"style": second})
            assert status == 200 and snapshot["style"] == second
            after_ack = viewer.received
            changed_after = None
            for _ in range(60):
                await viewer.wait_frames(viewer.received + 1)
                if mean_abs_diff(viewer.frames[-1].image, before) > 15.0:
                    changed_after = viewer.received - after_ack
                    break
            status, listing = await server.call("GET", "/api/streams")
            bad = await server.call("POST", "/api/streams/desk/style", json={"strength": 3})
            audio = viewer.audio_frames
            await viewer.close()
            await publisher.close()
            return {"changed_after": changed_after, "listing": listing, "bad": bad, "audio": audio}

    r = run(scenario(), limit=180)
    print(f"\nstyle change seen after {r['changed_after']} frame(s); audio frames {r['audio']}")
    assert r["changed_after"] is not None and r["changed_after"] <= 8
    assert [s["name"] for s in r["listing"]["streams"]] == ["desk"]
    assert r["bad"][0] == 400 and "strength" in r["bad"][1]["error"]
    assert r["audio"] > 10, "the publisher's audio did not reach the viewer"


def test_encoder_when_keyframe_requested_then_next_picture_is_one() -> None:
    from streamer.server.encoding import SharedEncoder

    for codec in ("VP8", "H264"):
        encoder = SharedEncoder(codec)
        frames = [encoder.encode(pattern_frame(i, 120, 160), i * 3000) for i in range(6)]
        encoder.request_keyframe()
        forced = encoder.encode(pattern_frame(7, 120, 160), 7 * 3000)
        keys = [f.keyframe for f in frames if f is not None]
        assert keys[0] and not any(keys[1:]), (codec, keys)
        assert forced is not None and forced.keyframe
        assert np.frombuffer(forced.data, np.uint8).size > 0


def test_source_when_a_file_is_offered_by_name_then_whep_viewers_get_it_stylized(model: str, tmp_path) -> None:  # noqa: ANN001
    from streamer.sources.stream import StreamSource

    from ..media import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=20, width=160, height=120, fps=10, audio=None)

    async def scenario() -> dict:
        async with started_engine(model) as engine, \
                running_server(engine, _settings(), sources={"clip": StreamSource(clip, realtime=True, loop=True)}) \
                as server:
            listed = (await server.call("GET", "/api/streams"))[1]
            stylized_before_viewers = server.context.streams.get("clip").snapshot()["stylized"]
            viewer = WhepViewer()
            await viewer.watch(server, "clip")
            await viewer.wait_frames(25, limit=60)  # more than the clip's 20 frames: it loops
            image = viewer.frames[-1].image
            await viewer.close()
        return {"listed": listed, "image": image, "idle": stylized_before_viewers,
                "streams_after": len(server.context.streams)}

    r = run(scenario(), limit=180)
    nearest_source = min(mean_abs_diff(r["image"], pattern_frame(i, 120, 160)) for i in range(20))
    assert [(s["name"], s["kind"]) for s in r["listed"]["streams"]] == [("clip", "source")]
    assert r["idle"] == 0, "a stream nobody watches is not stylized"
    assert nearest_source > 20.0
    assert r["streams_after"] == 0


@pytest.mark.slow
def test_live_when_publishing_over_whip_then_the_server_gets_the_stylized_stream(model: str, tmp_path) -> None:  # noqa: ANN001
    import os
    import sys

    from ..media import make_clip
    from .wish_clients import ROOT

    clip = make_clip(tmp_path / "clip.mp4", frames=30, width=320, height=240, fps=15, audio=None)

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings(token=TOKEN)) as server:
            style = next(iter(engine.styles.builtins), None)
            args = [sys.executable, "-m", "streamer", "live", "-i", str(clip), "--loop", "--model", model,
                    "--size", "128", "--duration", "25", "--status", "--whip", f"{server.url}/whip/live"]
            if style:
                args += ["--style", style]
            env = {**os.environ, "PYTHONWARNINGS": "ignore", "STREAMER_WHIP_TOKEN": TOKEN}
            live = await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
            try:
                published = await _wait_for(lambda: "live" in {b.name for b in server.context.streams}, 90)
                assert published, "streamer live did not publish"
                viewer = WhepViewer()
                await viewer.watch(server, "live")
                await viewer.wait_frames(10, limit=60)
                image = viewer.frames[-1].image
                snapshot = server.context.streams.get("live").snapshot()
                await viewer.close()
                live.terminate()
                _, err = await asyncio.wait_for(live.communicate(), 60)
            finally:
                if live.returncode is None:
                    live.kill()
                    await live.wait()
            ended = await _wait_for(lambda: len(server.context.streams) == 0)
            return {"image": image, "snapshot": snapshot, "code": live.returncode, "err": err.decode(),
                    "ended": ended}

    r = run(scenario(), limit=300)
    print(f"\nstream published by streamer live: {r['snapshot']}")
    assert r["image"].shape == (240, 320, 3)
    assert r["snapshot"]["kind"] == "whip" and r["snapshot"]["frames_in"] > 5
    assert r["code"] == 0 and "Traceback" not in r["err"], r["err"]
    assert r["ended"], "the stream stayed after streamer live stopped"
