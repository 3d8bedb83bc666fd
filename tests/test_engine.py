"""The engine and its inference thread, with a real model: policies, counters, shutdown, fairness."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from streamer import Engine, Frame, ProcessingSize, QueuePolicy, StyleRecipe
from streamer.engine import EngineState
from streamer.errors import EngineClosedError, FrameDropped, StyleError
from streamer.inference.backends import BackendOptions

from .fakes import InferenceBroke, failing_engine, slow_engine
from .media import pattern_frame

SMALL = ProcessingSize(64)


def frames(n: int, height: int = 48, width: int = 64) -> list[Frame]:
    return [Frame(pattern_frame(i, height, width), pts=i, seq=i) for i in range(n)]


def cpu_engine(model: str, max_batch: int = 4) -> Engine:
    return Engine.create(model, BackendOptions(backend="cpu", threads=2), max_batch=max_batch, use_disk_cache=False)


async def some_style(engine: Engine) -> np.ndarray:
    if engine.styles.builtins:
        return next(iter(engine.styles.builtins.values())).embedding
    return await engine.embed_image(pattern_frame(3, 256, 256))


def test_lossless_stream_processes_every_frame_in_order(any_model: str, no_thread_leaks: None) -> None:
    async def main() -> tuple[list[Frame], dict]:
        async with cpu_engine(any_model) as engine:
            stream = engine.open_stream("file", QueuePolicy.LOSSLESS, capacity=2, size=SMALL)
            await stream.set_style(await some_style(engine))
            futures = [await stream.submit(f) for f in frames(12)]
            out = [await asyncio.wrap_future(f) for f in futures]
            return out, stream.stats.as_dict()

    out, stats = asyncio.run(main())
    assert [f.seq for f in out] == list(range(12))
    assert all(f.image.shape == (48, 64, 3) for f in out)
    assert stats["submitted"] == stats["processed"] == 12 and stats["dropped"] == 0


def test_output_when_sizes_are_odd_or_portrait_keeps_input_resolution(any_model: str) -> None:
    async def main() -> list[tuple[tuple[int, ...], tuple[int, int]]]:
        async with cpu_engine(any_model) as engine:
            stream = engine.open_stream("sizes", size=ProcessingSize(96))
            await stream.set_style(await some_style(engine))
            results = []
            for h, w in [(57, 101), (101, 57), (121, 121), (33, 200)]:
                out = await stream.stylize(Frame(pattern_frame(0, h, w)))
                results.append((out.image.shape, stream.processing_shape(h, w)))
            return results

    for (shape, processing), (h, w) in zip(asyncio.run(main()), [(57, 101), (101, 57), (121, 121), (33, 200)],
                                           strict=True):
        assert shape == (h, w, 3)
        ph, pw = processing
        assert min(ph, pw) in range(88, 105)  # short side ~96, rounded to the model's multiple
        assert abs(ph / pw - h / w) / (h / w) < 0.15  # aspect kept (no squashing)


def test_stream_when_opened_without_upscale_returns_the_processing_size_with_the_same_picture(
        any_model: str) -> None:
    """``upscale=False`` (file conversion: the writer scales) hands back the model's picture at the
    processing shape; scaling it to the input size gives what a default stream returns."""
    from streamer.inference.imaging import resize

    async def main() -> tuple[Frame, Frame, tuple[int, int]]:
        async with cpu_engine(any_model) as engine:
            style = await some_style(engine)
            small = engine.open_stream("small", size=ProcessingSize(64), upscale=False)
            full = engine.open_stream("full", size=ProcessingSize(64))
            frame = Frame(pattern_frame(2, 120, 160), pts=7, seq=3)
            for stream in (small, full):
                await stream.set_style(style)
            return await small.stylize(frame), await full.stylize(frame), small.processing_shape(120, 160)

    kept, upscaled, shape = asyncio.run(main())
    assert kept.image.shape == (*shape, 3) and shape != (120, 160)
    assert upscaled.image.shape == (120, 160, 3)
    assert (kept.pts, kept.seq) == (upscaled.pts, upscaled.seq) == (7, 3)
    assert np.array_equal(resize(kept.image, 120, 160), upscaled.image)


def test_stylized_output_differs_from_input_and_depends_on_style(any_model: str) -> None:
    async def main() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        async with cpu_engine(any_model) as engine:
            stream = engine.open_stream("s", size=ProcessingSize(128))
            image = pattern_frame(5, 128, 160)
            a = await engine.embed_image(pattern_frame(1, 256, 256)[:, ::-1])
            b = await engine.embed_image(np.full((256, 256, 3), (200, 30, 30), np.uint8))
            await stream.set_style(a)
            out_a = (await stream.stylize(Frame(image))).image
            await stream.set_style(b)
            out_b = (await stream.stylize(Frame(image))).image
            return image, out_a, out_b

    image, out_a, out_b = asyncio.run(main())
    assert np.abs(out_a.astype(int) - image).mean() > 10
    assert np.abs(out_a.astype(int) - out_b).mean() > 5


def test_latest_stream_when_inference_is_slow_drops_oldest_and_accounts_for_all(any_model: str,
                                                                                 no_thread_leaks: None) -> None:
    async def main() -> tuple[dict, int, int]:
        engine = slow_engine(any_model, delay=0.05)
        async with engine:
            stream = engine.open_stream("live", QueuePolicy.LATEST, capacity=1, size=SMALL)
            await stream.set_style(await some_style(engine))
            futures = []
            for f in frames(30):
                futures.append(await stream.submit(f))
                await asyncio.sleep(0.005)  # capture much faster than inference
            results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
        dropped = sum(isinstance(r, FrameDropped) for r in results)
        done = sum(isinstance(r, Frame) for r in results)
        return stream.stats.as_dict(), dropped, done

    stats, dropped, done = asyncio.run(main())
    assert stats["dropped"] == dropped > 0
    assert stats["processed"] == done > 0
    assert stats["submitted"] == 30 == done + dropped


def test_stop_without_drain_accounts_queued_frames_as_dropped(any_model: str, no_thread_leaks: None) -> None:
    async def main() -> dict:
        engine = slow_engine(any_model, delay=0.05)
        await engine.start()
        stream = engine.open_stream("file", QueuePolicy.LOSSLESS, capacity=8, size=SMALL)
        await stream.set_style(await some_style(engine))
        futures = [await stream.submit(f) for f in frames(8)]
        await engine.stop(drain=False)
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
        assert all(isinstance(r, Frame | FrameDropped) for r in results)
        return stream.stats.as_dict()

    stats = asyncio.run(main())
    assert stats["pending"] == 0
    assert stats["processed"] + stats["dropped"] == 8


def test_engine_when_stopped_refuses_work_and_restart(any_model: str, no_thread_leaks: None) -> None:
    async def main() -> None:
        engine = cpu_engine(any_model)
        await engine.start()
        stream = engine.open_stream("x", size=SMALL)
        await stream.set_style(await some_style(engine))
        await engine.stop()
        assert engine.state is EngineState.STOPPED
        with pytest.raises(EngineClosedError):
            await stream.submit(frames(1)[0])
        with pytest.raises(EngineClosedError):
            engine.open_stream("y")
        with pytest.raises(EngineClosedError):
            await engine.start()

    asyncio.run(main())
    assert not [t for t in threading.enumerate() if t.name == "streamer-inference"]


def test_round_robin_when_one_lane_floods_serves_the_other(any_model: str) -> None:
    async def main() -> list[str]:
        engine = slow_engine(any_model, delay=0.01, max_batch=1)
        order: list[str] = []
        async with engine:
            style = await some_style(engine)
            busy = engine.open_stream("busy", QueuePolicy.LOSSLESS, capacity=20, size=SMALL)
            quiet = engine.open_stream("quiet", QueuePolicy.LOSSLESS, capacity=20, size=SMALL)
            await busy.set_style(style)
            await quiet.set_style(style)
            flood = [await busy.submit(f) for f in frames(20)]
            calm = [await quiet.submit(f) for f in frames(5)]
            for fut, name in [(f, "busy") for f in flood] + [(f, "quiet") for f in calm]:
                fut.add_done_callback(lambda _, n=name: order.append(n))
            await asyncio.gather(*(asyncio.wrap_future(f) for f in flood + calm))
        return order

    order = asyncio.run(main())
    last_quiet = max(i for i, name in enumerate(order) if name == "quiet")
    assert last_quiet < 15, f"the quiet lane waited behind the busy one: {order}"


def test_same_shape_frames_of_several_lanes_are_batched(any_model: str) -> None:
    async def main() -> dict:
        engine = slow_engine(any_model, delay=0.05, max_batch=4)
        async with engine:
            style = await some_style(engine)
            streams = [engine.open_stream(f"s{i}", QueuePolicy.LATEST, capacity=1, size=SMALL) for i in range(3)]
            for s in streams:
                await s.set_style(style)
            futures = []
            for f in frames(6):
                for s in streams:
                    futures.append(await s.submit(f))
                await asyncio.sleep(0.02)
            await asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
            return engine.stats()

    stats = asyncio.run(main())
    assert stats["batched_frames"] > 0
    assert stats["batches"] < stats["frames"]


# -- failure: an exception on the inference thread is never silent ----------------------------
FAIL_BOUND = 20.0  #: seconds within which every outcome of a failure must be seen (no hang)


def test_engine_when_runner_raises_fails_every_pending_and_later_submit_with_the_cause(
        any_model: str, no_thread_leaks: None) -> None:
    async def main() -> None:
        engine = failing_engine(any_model, good_calls=2, delay=0.02)
        async with engine:
            file = engine.open_stream("file", QueuePolicy.LOSSLESS, capacity=8, size=SMALL)
            live = engine.open_stream("live", QueuePolicy.LATEST, capacity=1, size=SMALL, results=2)
            await file.set_style(await some_style(engine))
            await live.set_style(await some_style(engine))
            futures = [await file.submit(f) for f in frames(8)]
            # when the third inference raises
            results = await asyncio.wait_for(
                asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True), FAIL_BOUND)
            # then the frames done before it are fine and every other one fails with the cause
            assert all(isinstance(r, Frame) for r in results[:2])
            failed = results[2:]
            assert failed and all(isinstance(r, EngineClosedError) for r in failed)
            assert all(isinstance(r.cause, InferenceBroke) and isinstance(r.__cause__, InferenceBroke)
                       for r in failed if isinstance(r, EngineClosedError))
            assert "inference failed: InferenceBroke: interpreter invoke failed" in str(failed[0])
            # and the engine says it failed, and why
            assert engine.state is EngineState.FAILED and isinstance(engine.failure, InferenceBroke)
            # and every stream refuses more work with the same cause, as does the engine
            with pytest.raises(EngineClosedError, match="inference failed") as caught:
                await file.submit(frames(1)[0])
            assert isinstance(caught.value.cause, InferenceBroke)
            with pytest.raises(EngineClosedError, match="inference failed"):
                await live.submit(frames(1)[0])
            with pytest.raises(EngineClosedError, match="inference failed"):
                engine.open_stream("new")
            with pytest.raises(EngineClosedError, match="inference failed"):
                await engine.embed_image(pattern_frame(1, 64, 64))
            # and a reader of a stream's results learns it instead of waiting forever
            with pytest.raises(EngineClosedError, match="inference failed"):
                await asyncio.wait_for(live.next_result(), FAIL_BOUND)
            stats = file.stats.as_dict()
            assert stats["pending"] == 0 and stats["failed"] == len(failed)

    asyncio.run(main())
    assert not [t for t in threading.enumerate() if t.name == "streamer-inference"]


def test_stream_results_when_frames_flow_deliver_newest_and_end_when_closed(any_model: str) -> None:
    async def main() -> tuple[list[int], int, dict]:
        async with slow_engine(any_model, delay=0.03) as engine:
            stream = engine.open_stream("live", QueuePolicy.LATEST, capacity=1, size=SMALL, results=1)
            await stream.set_style(await some_style(engine))
            seen: list[int] = []

            async def read() -> None:
                async for frame in stream.results():
                    seen.append(frame.seq)

            reader = asyncio.create_task(read())
            for f in frames(20):
                await stream.submit(f)
                await asyncio.sleep(0.005)
            await stream.aclose()
            await asyncio.wait_for(reader, FAIL_BOUND)  # the iterator ends with the stream
            return seen, stream.dropped, stream.meters.as_dict()

    seen, dropped, meters = asyncio.run(main())
    assert seen == sorted(seen) and dropped > 0  # in order; older frames gave way to newer ones
    assert meters["frames_in"] == 20 and meters["frames_out"] == len(seen)
    assert len(seen) + dropped == 20
    assert meters["latency_ms"] is not None


def test_stream_when_recipe_has_no_style_passes_frames_through(any_model: str) -> None:
    async def main() -> tuple[Frame, int]:
        async with cpu_engine(any_model) as engine:
            stream = engine.open_stream("p", size=SMALL, results=1)
            await stream.set_style(StyleRecipe(()))
            frame = frames(1)[0]
            await stream.submit(frame)
            out = await asyncio.wait_for(stream.next_result(), FAIL_BOUND)
            assert out is frame
            return out, stream.stats.submitted

    _, submitted = asyncio.run(main())
    assert submitted == 0  # nothing went to the inference thread


def test_stream_when_no_style_set_refuses_frames(any_model: str) -> None:
    async def main() -> None:
        async with cpu_engine(any_model) as engine:
            stream = engine.open_stream("nothing", size=SMALL)
            with pytest.raises(StyleError, match="has no style set"):
                await stream.submit(frames(1)[0])

    asyncio.run(main())
