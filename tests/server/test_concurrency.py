"""Several sessions at once share one inference thread: fair shares, batches across sessions, no backlog."""

from __future__ import annotations

import asyncio

from streamer.config import ProcessingSize
from streamer.server import ServerSettings

from ..fakes import slow_engine
from .harness import Caller, run, running_server


def test_sessions_when_inference_is_the_bottleneck_then_fair_and_batched(model: str, no_thread_leaks: None) -> None:
    # 0.15 s per transform call: at most ~7 batches a second for 50 frames a second offered
    engine = slow_engine(model, delay=0.15, max_batch=4)
    rates = {"greedy": 30.0, "calm-1": 10.0, "calm-2": 10.0}

    async def scenario() -> tuple[dict, dict, dict, dict]:
        await engine.start()
        try:
            settings = ServerSettings(port=0, size=ProcessingSize(128), max_sessions=3)
            async with running_server(engine, settings) as server:
                callers = {name: Caller.sending(fps=fps)
                           for name, fps in rates.items()}
                for caller in callers.values():
                    await caller.connect(server)
                for caller in callers.values():
                    await caller.wait_frames(2)
                lanes = {name: f"session-{caller.session_id[:8]}" for name, caller in callers.items()}
                before = engine.stats()
                got_before = {name: caller.received for name, caller in callers.items()}
                await asyncio.sleep(4.0)  # a measuring window, not a timing assertion
                after = engine.stats()
                got = {name: caller.received - got_before[name] for name, caller in callers.items()}
                # the server read every frame that arrived, however slow inference was (aiortc #1192)
                unread = {name: caller.track.sent - server.registry.get(caller.session_id).stats.frames_in.count
                          for name, caller in callers.items()}
                for caller in callers.values():
                    await caller.close()
                await server.wait_sessions(0)
                per_lane = {name: {key: after["streams"][lane][key] - before["streams"][lane][key]
                                   for key in ("submitted", "processed", "dropped")}
                            | {"pending": after["streams"][lane]["pending"]}
                            for name, lane in lanes.items()}
                totals = {key: after[key] - before[key] for key in ("batches", "frames", "batched_frames")}
                return per_lane, totals, got, unread
        finally:
            await engine.stop(drain=False)

    per_lane, totals, got, unread = run(scenario())
    print(f"\nbatches {totals['batches']}, frames {totals['frames']}, batched {totals['batched_frames']}")
    for name, counts in per_lane.items():
        print(f"{name:7s} offered {rates[name]:4.0f} fps: {counts}, returned {got[name]}, unread {unread[name]}")
    processed = [c["processed"] for c in per_lane.values()]
    assert min(processed) > 0
    assert min(processed) >= 0.6 * max(processed), "one session got far more than its share"
    assert totals["batched_frames"] > 0 and totals["batches"] < totals["frames"], "no cross-session batching"
    assert per_lane["greedy"]["dropped"] > 0, "an over-eager session must drop, not queue"
    assert all(c["pending"] <= 2 for c in per_lane.values()), "a backlog built up"
    assert all(n <= 15 for n in unread.values()), f"incoming frames piled up unread: {unread}"  # ~120 if not read
