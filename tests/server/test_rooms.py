"""Calls with real aiortc participants on loopback: everyone sees everyone else stylized with the
sender's style, style changes reach the others, leaving frees everything, bad joins are refused."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

import numpy as np
import pytest

from streamer.config import ProcessingSize, QueuePolicy
from streamer.frames import Frame
from streamer.server import ServerSettings
from streamer.server.relay import VIDEO_QUEUE
from streamer.styles import StyleRecipe

from ..media import pattern_frame
from .harness import checker, mean_abs_diff, run, running_server, started_engine, stripes
from .room_clients import Member
from .wish_clients import WhepViewer

SIZE = ProcessingSize(128)

#: frames a participant's broadcast can hold, stylized in the old style, when its style changes:
#: the camera frame being submitted, the engine stream's queue, a batch of the inference thread
#: (the test engine's ``max_batch``), the stream's result, the encoder's waiting and current
#: picture, and a viewer's relay queue
STYLE_CHANGE_FRAMES = 1 + 1 + 4 + 1 + 2 + VIDEO_QUEUE


def _settings(**overrides: object) -> ServerSettings:
    return ServerSettings(port=0, size=SIZE, **overrides)  # type: ignore[arg-type]


def _cameras() -> list[np.ndarray]:
    """Three camera pictures that look nothing alike."""
    return [pattern_frame(5, 120, 160), np.ascontiguousarray(stripes(120, 160)), checker(120, 160)]


async def _looks(engine, server, image: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The engine's own output for ``image`` in each gallery style."""
    stream = engine.open_stream("reference", QueuePolicy.LOSSLESS, capacity=1, size=SIZE,
                                lookup=server.context.gallery.embedding)
    try:
        looks = {}
        for name in server.style_names:
            await stream.set_style(StyleRecipe.of(name))
            looks[name] = (await stream.stylize(Frame(image))).image
        return looks
    finally:
        stream.close()


def _closer_to(image: np.ndarray, looks: dict[Any, np.ndarray]) -> Any:
    return min(looks, key=lambda name: mean_abs_diff(image, looks[name]))


def test_room_when_three_join_then_each_sees_the_others_in_the_senders_style(model: str) -> None:
    cameras = _cameras()

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings()) as server:
            first, second = server.style_names
            styles = [first, second, first]
            looks = [await _looks(engine, server, image) for image in cameras]
            members = [Member.showing(image, slots=3, audio=(i == 0)) for i, image in enumerate(cameras)]
            for i, member in enumerate(members):
                status, body = await member.join(server, "team", name=f"p{i}", style=styles[i])
                assert status == 201, body
            seen: dict[tuple[int, int], str] = {}
            for i, viewer in enumerate(members):
                for j, sender in enumerate(members):
                    if i != j:
                        await viewer.wait_shown(sender.tag, frames=3)
                        image = await viewer.next_frame_of(sender.tag)
                        seen[(i, j)] = _closer_to(image, looks[j])
            shown_to_self = [m.mid_of(m.tag) for m in members]
            # the sender's audio reaches the others on the audio section paired with its slot
            audio_mid = members[1].entry(members[0].tag)["audio_mid"]
            await asyncio.sleep(1.0)
            audio = members[1].audio_counts.get(audio_mid, 0)
            # one participant switches style over the data channel; the others see it soon: the
            # first frame in the new style is counted from what the server had sent each viewer
            # when the change was acknowledged (frames sent before, still on their way or queued
            # in the viewer, are old ones whatever the load)
            room = server.context.rooms.get("team")
            slots = [next(s for s in room.participants[v.tag].slots if s.showing is room.participants[members[0].tag])
                     for v in members[1:]]
            members[0].send({"type": "style", "id": 1, "style": second})
            ack = await members[0].wait_message("style", match=lambda m: m.get("id") == 1)
            sent_at_ack = [slot.video.sent for slot in slots]
            every_look = {(j, name): look for j, by_style in enumerate(looks) for name, look in by_style.items()}
            frames_until_seen, changed_looks = [], []
            for viewer, sent in zip(members[1:], sent_at_ack, strict=True):
                mid = viewer.mid_of(members[0].tag)
                deadline = time.monotonic() + 60
                while True:
                    image = await viewer.next_frame_of(members[0].tag)
                    if _closer_to(image, looks[0]) == second:
                        break
                    assert time.monotonic() < deadline, "the style change never showed"
                frames_until_seen.append(viewer.counts[mid] - 1 - sent)  # old frames sent after the ack
                changed_looks.append(_closer_to(image, every_look))
            deadline = time.monotonic() + 15  # the others are told of the change too (bounded wait)
            while members[2].entry(members[0].tag)["style"] != second and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            styles_announced = {p["id"]: p["style"] for p in members[2].room["participants"]}
            lanes = [s for s in engine.stats()["streams"] if s.startswith("room-")]
            for member in members:
                await member.close()
            await _wait(lambda: len(server.context.calls) == 0)
            return {"seen": seen, "styles": styles, "self": shown_to_self, "audio": audio, "ack": ack,
                    "frames_until_seen": frames_until_seen, "changed_looks": changed_looks,
                    "announced": styles_announced,
                    "tag0": members[0].tag, "lanes": lanes, "second": second,
                    "rooms": [r.name for r in server.context.rooms],
                    "left_lanes": [s for s in engine.stats()["streams"] if s.startswith("room-")],
                    "open": server.context.calls.open_peer_connections}

    r = run(scenario(), limit=240)
    print(f"\nstyle each receiver saw per sender: {r['seen']}; style change seen after "
          f"{r['frames_until_seen']} frame(s); audio frames {r['audio']}")
    assert r["seen"] == {(i, j): r["styles"][j] for i in range(3) for j in range(3) if i != j}
    assert r["self"] == [None, None, None], "nobody asked to see themselves"
    assert r["audio"] > 10
    assert r["ack"]["ok"] and r["announced"][r["tag0"]] == r["second"]
    assert r["changed_looks"] == [(0, r["second"])] * 2, "the changed frames are the sender's, in its new style"
    assert max(r["frames_until_seen"]) <= STYLE_CHANGE_FRAMES
    assert len(r["lanes"]) == 3, "one inference stream per participant, whoever watches"
    assert r["rooms"] == [] and r["left_lanes"] == [] and r["open"] == 0


def test_room_when_an_offer_lists_its_microphone_first_then_every_video_slot_plays(model: str) -> None:
    # A browser's offer starts with the microphone: its video sections are not the first of the
    # BUNDLE group. aiortc's default bundle policy left every video section after the camera's on
    # a transport it had closed, and the server never sent on those slots (Chromium saw nothing).
    cameras = _cameras()

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings()) as server:
            first, second = server.style_names
            looks = [await _looks(engine, server, image) for image in cameras[:2]]
            ann, bob = (Member.showing(image, slots=slots, audio=True, audio_first=True)
                        for image, slots in ((cameras[0], 2), (cameras[1], 1)))
            assert (await ann.join(server, "team", style=first, self_view=True))[0] == 201
            assert (await bob.join(server, "team", style=second))[0] == 201
            seen = {"ann sees herself": _closer_to(await ann.next_frame_of(ann.tag), looks[0]),
                    "ann sees bob": _closer_to(await ann.next_frame_of(bob.tag), looks[1]),
                    "bob sees ann": _closer_to(await bob.next_frame_of(ann.tag), looks[0])}
            mids = {"ann": (ann.mid_of(ann.tag), ann.mid_of(bob.tag)), "bob": bob.mid_of(ann.tag)}
            for member in (ann, bob):
                await member.close()
            return {"seen": seen, "mids": mids, "first": first, "second": second}

    r = run(scenario(), limit=180)
    print(f"\n{r}")
    assert r["seen"] == {"ann sees herself": r["first"], "ann sees bob": r["second"], "bob sees ann": r["first"]}
    assert len(set(r["mids"]["ann"])) == 2, "Ann's two slots show different people"


async def _wait(predicate, limit: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def test_room_when_someone_leaves_then_their_slot_goes_to_the_next_and_rejoin_keeps_the_place(model: str) -> None:
    cameras = _cameras()

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings(room_size=3)) as server:
            a, b, c = (Member.showing(image, slots=1) for image in cameras)  # one slot: sees one other
            for name, member in (("a", a), ("b", b), ("c", c)):
                status, body = await member.join(server, "duo", name=name, self_view=False)
                assert status == 201, body
            await a.wait_shown(b.tag)
            first_shown = a.room and a.mid_of(b.tag), a.mid_of(c.tag)
            # a WHEP player watches a participant's stylized stream, as it would any stream
            player = WhepViewer()
            await player.watch(server, f"duo.{a.tag}")
            await player.wait_frames(5, limit=60)
            watched = player.frames[-1].image
            await player.close()
            # b's connection goes away; a's only slot now shows c
            await server.call("DELETE", f"/api/rooms/duo/participants/{b.participant_id}")
            await a.wait_shown(c.tag)
            after_leave = a.mid_of(c.tag)
            # c rejoins on a new connection (same secret): same public id, same place
            c2 = Member.showing(cameras[2], slots=1)
            status, body = await c2.join(server, "duo", replaces=c.participant_id)
            assert status == 201, body
            await a.wait_shown(c2.tag)
            rejoined = {"same_tag": c2.tag == c.tag, "name": a.entry(c2.tag)["name"],
                        "count": len(server.context.rooms.get("duo").participants)}
            full = Member.showing(cameras[1], slots=1)
            joined_again = await full.join(server, "duo")
            too_many = Member.showing(cameras[1], slots=1)
            refused = await too_many.join(server, "duo")
            for member in (a, b, c, c2, full, too_many):
                await member.close()
            return {"first": first_shown, "watched": watched, "after_leave": after_leave, "rejoined": rejoined,
                    "joined_again": joined_again[0], "refused": refused}

    r = run(scenario(), limit=240)
    print(f"\n{r}")
    assert r["first"][0] is not None and r["first"][1] is None
    camera = cameras[0]
    assert r["watched"].shape == camera.shape and mean_abs_diff(r["watched"], camera) > 10, "not stylized"
    assert r["after_leave"] == r["first"][0], "the freed slot shows the next participant"
    assert r["rejoined"] == {"same_tag": True, "name": "c", "count": 2}
    assert r["joined_again"] == 201
    status, body = r["refused"]
    assert status == 409 and "full (3 of 3 people)" in body["error"]


def test_room_when_names_are_bad_or_unknown_then_refused_clearly(model: str) -> None:
    async def scenario() -> dict:
        settings = _settings(rooms=("team",))
        async with started_engine(model) as engine, running_server(engine, settings) as server:
            results = {}
            member = Member.showing(checker(120, 160), slots=1)
            results["unknown"] = await member.join(server, "elsewhere")
            await member.close()
            results["long"] = await server.call("POST", "/api/rooms/" + "r" * 65 + "/participants",
                                                json={"type": "offer", "sdp": "v=0"})
            results["chars"] = await server.call("POST", "/api/rooms/a%20b/participants",
                                                 json={"type": "offer", "sdp": "v=0"})
            results["page long"] = (await server.call("GET", "/room/" + "r" * 65))[0]
            results["page"] = (await server.call("GET", "/room/team"))[0]
            results["garbage offer"] = await server.call("POST", "/api/rooms/team/participants",
                                                         json={"type": "offer", "sdp": "hello"})
            member = Member.showing(checker(120, 160), slots=1)
            results["bad display name"] = await member.join(server, "team", name="x" * 41)
            await member.close()
            results["listing"] = await server.call("GET", "/api/rooms")
            results["unknown participant"] = (await server.call(
                "DELETE", "/api/rooms/team/participants/" + "A" * 22))[0]
            return results

    r = run(scenario(), limit=120)
    print(f"\n{r}")
    status, body = r["unknown"]
    assert status == 404 and "no room named 'elsewhere'" in body["error"] and "team" in body["error"]
    status, body = r["long"]
    assert status == 400 and "at most 64" in body["error"]
    status, body = r["chars"]
    assert status == 400 and "not valid" in body["error"]
    assert r["page long"] == 400 and r["page"] == 200
    assert r["garbage offer"][0] == 400
    status, body = r["bad display name"]
    assert status == 400 and "at most 40" in body["error"]
    status, body = r["listing"]
    assert status == 200 and [room["name"] for room in body["rooms"]] == ["team"] and not body["open"]
    assert r["unknown participant"] == 404


@pytest.mark.slow
def test_room_when_20_join_leave_cycles_then_nothing_leaks(model: str) -> None:
    # Cheap clients (10 fps, no pictures kept): this one process hosts the server and three
    # peers, and a starved event loop (> 0.5 s late for 30 s) lets ICE consent checks expire.
    from .test_lifecycle import _threads

    cameras = _cameras()

    async def cycle(server, index: int) -> list[weakref.ref]:  # noqa: ANN001
        member = Member.showing(pattern_frame(index, 120, 160), fps=10, slots=3, audio=True, keep_images=False)
        status, body = await member.join(server, "team")
        assert status == 201, body
        participant = server.context.calls.get(member.participant_id)
        refs = [weakref.ref(participant.pc), weakref.ref(participant.broadcast)]
        await member.wait_shown(stayers[0].tag)
        await stayers[0].wait_shown(member.tag)
        await member.close()
        await _wait(lambda: len(server.context.calls) == 2)
        return refs

    stayers: list[Member] = []

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine, _settings()) as server:
            for image in cameras[:2]:
                stayers.append(Member.showing(image, fps=10, slots=3, audio=True, keep_images=False))
                status, body = await stayers[-1].join(server, "team")
                assert status == 201, body
            for i in range(3):  # warm-up: codecs, interpreter shapes, executor threads
                await cycle(server, i)
            gc.collect()
            tasks_before, threads_before = set(asyncio.all_tasks()), _threads()
            refs = [ref for i in range(20) for ref in await cycle(server, i)]
            deadline = time.monotonic() + 5.0  # closed peers' last tasks finish (a leak stays)
            while asyncio.all_tasks() - tasks_before and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            gc.collect()
            result = {
                "tasks": len(asyncio.all_tasks()) - len(tasks_before),
                "new_tasks": sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks() - tasks_before),
                "new_threads": _threads() - threads_before,
                "alive": sum(ref() is not None for ref in refs),
                "lanes": sorted(s for s in engine.stats()["streams"] if s.startswith("room-")),
                "participants": len(server.context.rooms.get("team").participants),
                "streams": len(server.context.streams),
                "stayers_see_each_other": stayers[0].mid_of(stayers[1].tag) is not None,
            }
            for member in stayers:
                await member.close()
            await _wait(lambda: len(server.context.calls) == 0)
            result["open"] = server.context.calls.open_peer_connections
            return result

    r = run(scenario(), limit=600)
    print(f"\n20 join/leave cycles: {r}")
    assert r["tasks"] <= 0, "tasks leaked"
    assert not r["new_threads"], "threads leaked"
    assert r["alive"] == 0, "peer connections or broadcasts leaked"
    assert len(r["lanes"]) == 2 and r["participants"] == 2 and r["streams"] == 2
    assert r["stayers_see_each_other"] and r["open"] == 0
