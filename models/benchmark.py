"""Speed, XNNPACK coverage and MAC counts of TFLite transform models (LiteRT, 2 threads)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from models.litert import Transform

SIZES: tuple[tuple[int, int], ...] = ((384, 384), (480, 640), (720, 1280))
COVERAGE_SIZES: tuple[tuple[int, int], ...] = ((384, 384), (480, 640), (720, 1280), (360, 648))


def executed_ops(interpreter: Interpreter) -> list[str]:
    """Op names actually executed after delegation (``DELEGATE`` for XNNPACK partitions).

    ``_get_ops_details`` lists the original nodes (delegated or not) plus one node per delegate
    partition; walking back from the outputs through producers, preferring delegate nodes,
    leaves exactly the nodes in the execution plan.
    """
    ops = interpreter._get_ops_details()
    producer: dict[int, dict] = {}
    for op in sorted(ops, key=lambda o: o["op_name"] == "DELEGATE"):
        for tensor in op["outputs"]:
            producer[int(tensor)] = op
    needed = [int(d["index"]) for d in interpreter.get_output_details()]
    seen: set[int] = set()
    executed: dict[int, str] = {}
    while needed:
        tensor = needed.pop()
        if tensor in seen or tensor not in producer:
            continue
        seen.add(tensor)
        op = producer[tensor]
        executed[int(op["index"])] = op["op_name"]
        needed.extend(int(t) for t in op["inputs"] if t >= 0)
    return [executed[i] for i in sorted(executed)]


def undelegated_ops(model: bytes, height: int, width: int, batch: int = 1) -> list[str]:
    """Ops of a transform model that XNNPACK does not take at the given size."""
    transform = Transform(model)
    transform.prepare((batch, height, width, 3))
    return [name for name in executed_ops(transform.interpreter) if name != "DELEGATE"]


def tflite_macs(model: bytes, height: int, width: int) -> int:
    """MACs of the CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ops at a content size."""
    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    for detail in interpreter.get_input_details():
        if detail["shape"][-1] == 3:
            interpreter.resize_tensor_input(detail["index"], [1, height, width, 3], strict=False)
    interpreter.allocate_tensors()
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out, weight = shapes[int(op["outputs"][0])], shapes[int(op["inputs"][1])]
        if name == "DEPTHWISE_CONV_2D":
            total += int(np.prod(out)) * int(weight[1] * weight[2])
        else:
            total += int(np.prod(out[:-1])) * int(np.prod(weight))
    return total


def time_transform(factory: Callable[[int, int], Transform], height: int, width: int, repeats: int) -> float:
    """Median milliseconds per frame of one invoke at ``height`` x ``width`` (after warm-up)."""
    transform = factory(height, width)
    rng = np.random.default_rng(0)
    content = rng.random((1, height, width, 3), np.float32)
    embedding = rng.normal(size=(1, 1, 1, 100)).astype(np.float32)
    for _ in range(3):
        transform(content, embedding)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        transform(content, embedding)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def speed_table(
    factories: dict[str, Callable[[int, int], Transform]], repeats: int, rounds: int = 2
) -> dict[str, dict[str, float]]:
    """ms/frame per model and size; models alternate within each size, best round kept."""
    table: dict[str, dict[str, float]] = {name: {} for name in factories}
    for height, width in SIZES:
        key = f"{height}x{width}"
        for _ in range(rounds):
            for name, factory in factories.items():
                ms = time_transform(factory, height, width, repeats)
                table[name][key] = min(table[name].get(key, ms), ms)
    return table
