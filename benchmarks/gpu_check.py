"""Does the style transform really run on this machine's GPU, how fast, and does it compute the right thing?

Checks streamer's GPU path end to end, on the model set streamer would use (``--model``, default
the bundled default), and prints a short report:

1. evidence of a GPU: ``nvidia-smi -L`` if present, and the Vulkan devices the Vulkan loader
   lists (LiteRT's GPU accelerator is WebGPU, which runs on Vulkan on Linux);
2. the backend ``open_transform`` chooses with ``--backend auto`` (GPU wanted), and the reason
   when it falls back to the CPU;
3. per size (default 384x384, 480x640, 720x1280): median / p90 ms per ``run`` (host->device
   copy, inference, copy back) over ``--iters`` runs after ``--warmup``, on the GPU (float16
   model) and on the CPU (int8 model, XNNPACK) in the same process; whether LiteRT ran the
   whole graph on the GPU (``is_fully_accelerated``);
4. agreement: the GPU output against the float16 model run on the CPU in float32 (XNNPACK),
   as max / mean absolute difference and PSNR on the [0, 1] scale; the int8 CPU model against
   the same reference is printed for scale.

Without a usable GPU it says why and still times the CPU. Results go to ``OUT/gpu_check.json``
(``--out``, default ``artifacts/gpu_check``). It imports only ``streamer.inference`` (no
PyAV/aiortc needed), so it runs wherever ``ai-edge-litert``, numpy and OpenCV are installed.

    python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --size 480x640 --iters 50 --out /tmp/gpu
    STREAMER_NATIVE_LOGS=1 python benchmarks/gpu_check.py   # LiteRT/WebGPU's own log on stderr

On Linux, the GPU accelerator needs the Vulkan loader (``libvulkan.so.1``) and the GPU vendor's
Vulkan driver (for NVIDIA, the ICD file ``nvidia_icd.json``; point ``VK_DRIVER_FILES`` at it
when it is installed outside ``/usr/share/vulkan/icd.d`` or ``/etc/vulkan/icd.d``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.config import Backend, CpuPrecision, Precision  # noqa: E402
from streamer.inference.backends import BackendOptions, default_threads, open_transform  # noqa: E402
from streamer.inference.catalog import find_model_set  # noqa: E402
from streamer.inference.modelfile import TransformModel  # noqa: E402
from streamer.inference.runners import CompiledModelTransform, InterpreterTransform  # noqa: E402
from streamer.inference.runtime import load_runtime, native_logs_captured  # noqa: E402

DEFAULT_SIZES = ("384x384", "480x640", "720x1280")


def say(*parts: object) -> None:
    print(*parts, flush=True)


# --- evidence of a GPU -----------------------------------------------------------------------


def nvidia_smi() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ["nvidia-smi not found"]
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"nvidia-smi -L failed: {exc}"]
    return (out.stdout + out.stderr).strip().splitlines()


_VK_DEVICE_TYPES = {0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}


def vulkan_devices() -> dict[str, Any]:
    """The physical devices the Vulkan loader lists (what WebGPU/Dawn can pick from)."""
    env = {k: os.environ[k] for k in ("VK_DRIVER_FILES", "VK_ICD_FILENAMES") if k in os.environ}
    icd_dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"]
    icds = sorted(str(p) for d in icd_dirs if os.path.isdir(d) for p in Path(d).glob("*.json"))
    info: dict[str, Any] = {"env": env, "icd_files": icds}
    try:
        vk = ctypes.CDLL("libvulkan.so.1")
    except OSError as exc:
        info["error"] = f"Vulkan loader not found: {exc}"
        return info
    create_info = (ctypes.c_uint64 * 8)()  # VkInstanceCreateInfo, all zero but sType
    ctypes.memset(create_info, 0, ctypes.sizeof(create_info))
    ctypes.c_uint32.from_buffer(create_info).value = 1  # VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
    instance = ctypes.c_void_p()
    result = vk.vkCreateInstance(ctypes.byref(create_info), None, ctypes.byref(instance))
    if result != 0:
        info["error"] = f"vkCreateInstance returned {result}"
        return info
    try:
        count = ctypes.c_uint32(0)
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        handles = (ctypes.c_void_p * count.value)()
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        devices = []
        for handle in handles[: count.value]:
            props = ctypes.create_string_buffer(4096)  # VkPhysicalDeviceProperties (< 1 KiB)
            vk.vkGetPhysicalDeviceProperties(ctypes.c_void_p(handle), props)
            api, driver, vendor, device, kind = np.frombuffer(props.raw[:20], np.uint32)
            name = props.raw[20:276].split(b"\0", 1)[0].decode(errors="replace")
            devices.append(
                {
                    "name": name,
                    "type": _VK_DEVICE_TYPES.get(int(kind), str(kind)),
                    "vendor_id": f"0x{int(vendor):04x}",
                    "api": f"{api >> 22}.{(api >> 12) & 0x3FF}.{api & 0xFFF}",
                }
            )
        info["devices"] = devices
    finally:
        vk.vkDestroyInstance(instance, None)
    return info


# --- inputs and measures -----------------------------------------------------------------------


def test_frame(height: int, width: int) -> np.ndarray:
    """A deterministic frame with edges, gradients and texture, float32 in [0, 1], [1,H,W,3]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= height
    x /= width
    r = 0.5 + 0.5 * np.sin(12 * x + 3 * y)
    g = np.clip(y + 0.2 * ((x * 8).astype(int) % 2), 0, 1)
    b = ((np.hypot(x - 0.5, y - 0.5) < 0.3) * 0.8 + 0.1 * np.cos(40 * x * y)).clip(0, 1)
    noise = np.random.default_rng(0).random((height, width, 3), dtype=np.float32) * 0.1
    return np.clip(np.stack([r, g, b], -1) + noise, 0, 1)[None].astype(np.float32)


def style_embedding(model_set: Any) -> tuple[str, np.ndarray]:
    """The first built-in style's embedding (or a fixed random one if the set has none)."""
    if model_set.styles_file and Path(model_set.styles_file).is_file():
        styles = json.loads(Path(model_set.styles_file).read_text())["styles"]
        name, entry = next(iter(styles.items()))
        return name, np.asarray(entry["embedding"], np.float32).reshape(1, -1)
    return "random", np.random.default_rng(1).normal(size=(1, 100)).astype(np.float32)


def time_runs(runner: Any, content: np.ndarray, style: np.ndarray, warmup: int, iters: int) -> dict[str, Any]:
    start = time.perf_counter()
    out = runner.run(content, style)
    first = (time.perf_counter() - start) * 1000
    for _ in range(max(0, warmup - 1)):
        runner.run(content, style)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        out = runner.run(content, style)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "first_ms": round(first, 2),
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))], 3),
        "min_ms": round(times[0], 3),
        "iters": iters,
        "output": out,
    }


def agreement(a: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    a = np.clip(a.astype(np.float64), 0, 1)
    ref = np.clip(ref.astype(np.float64), 0, 1)
    diff = np.abs(a - ref)
    mse = float(np.mean(diff**2))
    return {
        "max_abs": round(float(diff.max()), 5),
        "mean_abs": round(float(diff.mean()), 6),
        "psnr_db": round(float(10 * np.log10(1 / mse)), 2) if mse > 0 else float("inf"),
    }


def fully_accelerated(runner: Any, shape: tuple[int, ...]) -> bool | None:
    """Whether LiteRT put the whole graph on the accelerator (CompiledModel runners only)."""
    if not isinstance(runner, CompiledModelTransform):
        return None
    try:
        return bool(runner._cache.get(shape)[0].is_fully_accelerated())  # noqa: SLF001 - diagnostics
    except Exception:  # noqa: BLE001 - older LiteRT: unknown
        return None


def enforce_f32_runner(model: TransformModel, threads: int) -> Any:
    """The GPU runner with float32 arithmetic forced (diagnostic: is the difference fp16 rounding?)."""
    from ai_edge_litert.cpu_options import CpuOptions
    from ai_edge_litert.gpu_options import GpuOptions
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    runner = CompiledModelTransform(model, HardwareAccelerator.GPU, threads)
    runner._options = Options(  # noqa: SLF001 - diagnostics only
        HardwareAccelerator.GPU, cpu_options=CpuOptions(num_threads=threads), gpu_options=GpuOptions(enforce_f32=True)
    )
    return runner


# --- main ------------------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model name or directory (default: the bundled default)")
    parser.add_argument("--size", action="append", help=f"HxW, repeatable (default: {', '.join(DEFAULT_SIZES)})")
    parser.add_argument("--iters", type=int, default=20, help="timed runs per size and backend (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first, the first one compiles")
    parser.add_argument("--threads", type=int, default=default_threads(), help="CPU threads (default: %(default)s)")
    parser.add_argument("--gpu-delegate", default=None, help="TFLite GPU delegate library to try first")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "gpu_check", help="folder for the json")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in (args.size or DEFAULT_SIZES)]
    args.out.mkdir(parents=True, exist_ok=True)

    native_log = args.out / "gpu_check_native.log"  # LiteRT / WebGPU's own lines, at DEBUG level
    handler = logging.FileHandler(native_log, mode="w")
    handler.setFormatter(logging.Formatter("%(message)s"))
    runtime_logger = logging.getLogger("streamer.inference.runtime")
    runtime_logger.addHandler(handler)
    runtime_logger.setLevel(logging.DEBUG)

    runtime = load_runtime()
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "runtime": f"{runtime.name} {runtime.version}",
        "threads": args.threads,
    }
    say(
        f"# streamer GPU check  ({result['runtime']}, Python {result['machine']['python']}, "
        f"{result['machine']['cpus']} CPUs, CPU threads {args.threads})"
    )
    result["nvidia_smi"] = nvidia_smi()
    say("nvidia-smi -L:", "; ".join(result["nvidia_smi"]))
    result["vulkan"] = vulkan_devices()
    vk = result["vulkan"]
    say(
        "Vulkan:",
        vk.get("error")
        or ", ".join(f"{d['name']} ({d['type']}, Vulkan {d['api']})" for d in vk.get("devices", []))
        or "no devices",
        f"| ICD files: {', '.join(vk['icd_files']) or 'none in the standard folders'}",
        f"| env: {vk['env'] or '-'}",
    )

    model_set = find_model_set(args.model)
    say(f"model set: {model_set.name} ({model_set.directory})")
    options = BackendOptions(Backend.AUTO, threads=args.threads, gpu_delegate=args.gpu_delegate)
    start = time.perf_counter()
    gpu_runner, report = open_transform(model_set, options)
    open_s = time.perf_counter() - start
    result["backend"] = report.as_dict() | {"open_s": round(open_s, 2)}
    say(f"backend (auto, GPU wanted): {report.summary}  [{open_s:.1f} s]")
    say(
        f"  backend={report.backend.value} precision={report.precision.value} detail={report.detail!r} "
        f"model_file={report.model_file}"
    )
    say(f"  fallback_reason={report.fallback_reason!r}")
    on_gpu = report.backend is Backend.GPU
    if not on_gpu:
        gpu_runner.close()
        gpu_runner = None

    fp16 = TransformModel.load(
        model_set.transform_path(Precision.FP16),
        Precision.FP16,
        model_set.expected_sha256(model_set.transform_path(Precision.FP16)),
    )
    cpu_runner, cpu_report = open_transform(
        model_set, BackendOptions(Backend.CPU, threads=args.threads, precision=CpuPrecision.INT8))
    reference = InterpreterTransform(fp16, args.threads)  # fp16 weights, float32 arithmetic on the CPU
    f32_gpu = None
    style_name, style = style_embedding(model_set)
    say(f"style: {style_name}; CPU: {cpu_report.summary}; reference: {fp16.name} on the CPU (XNNPACK, float32)")
    say("")
    say(
        "| size | GPU median ms | GPU p90 | GPU first (compile) | fully on GPU | CPU int8 median ms | "
        "CPU/GPU | GPU vs CPU float: max abs / mean abs / PSNR | int8 vs CPU float: PSNR |"
    )
    say("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for h, w in sizes:
        content = test_frame(h, w)
        row: dict[str, Any] = {"size": f"{h}x{w}"}
        with native_logs_captured():
            ref = reference.run(content, style)
        cpu = time_runs(cpu_runner, content, style, args.warmup, args.iters)
        row["cpu_int8"] = {k: v for k, v in cpu.items() if k != "output"}
        row["cpu_int8_vs_float"] = agreement(cpu["output"], ref)
        gpu_text = "-"
        if gpu_runner is not None:
            try:
                with native_logs_captured() as lines:
                    gpu = time_runs(gpu_runner, content, style, args.warmup, args.iters)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the other sizes
                row["gpu_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                row["gpu_error_native"] = [line for line in lines if "ERROR" in line or line.startswith("E0")][:10]
                say(f"GPU failed at {h}x{w}: {row['gpu_error']} | native: {row['gpu_error_native']}")
            else:
                row["gpu"] = {k: v for k, v in gpu.items() if k != "output"}
                row["gpu"]["fully_accelerated"] = fully_accelerated(gpu_runner, content.shape)
                row["gpu_vs_float"] = agreement(gpu["output"], ref)
                row["cpu_over_gpu"] = round(cpu["median_ms"] / gpu["median_ms"], 2)
                a = row["gpu_vs_float"]
                gpu_text = (
                    f"{gpu['median_ms']:.2f} | {gpu['p90_ms']:.2f} | {gpu['first_ms']:.0f} | "
                    f"{row['gpu']['fully_accelerated']} | {cpu['median_ms']:.2f} | {row['cpu_over_gpu']}x | "
                    f"{a['max_abs']} / {a['mean_abs']} / {a['psnr_db']} dB"
                )
        if gpu_text == "-":
            gpu_text = f"- | - | - | - | {cpu['median_ms']:.2f} | - | -"
        say(f"| {h}x{w} | {gpu_text} | {row['cpu_int8_vs_float']['psnr_db']} dB |")
        rows.append(row)
    result["sizes"] = rows

    if gpu_runner is not None and isinstance(gpu_runner, CompiledModelTransform):
        h, w = sizes[min(1, len(sizes) - 1)]
        content = test_frame(h, w)
        try:
            with native_logs_captured():
                f32_gpu = enforce_f32_runner(fp16, args.threads)
                timed = time_runs(f32_gpu, content, style, 2, max(5, args.iters // 4))
                ref = reference.run(content, style)
            result["gpu_enforce_f32"] = {
                "size": f"{h}x{w}",
                "median_ms": timed["median_ms"],
                "vs_float": agreement(timed["output"], ref),
            }
            say(
                f"\nGPU with float32 arithmetic forced, {h}x{w}: {timed['median_ms']:.2f} ms, vs CPU float "
                f"{result['gpu_enforce_f32']['vs_float']}"
            )
        except Exception as exc:  # noqa: BLE001 - a diagnostic only
            result["gpu_enforce_f32"] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
            say(f"\nGPU with float32 forced failed: {result['gpu_enforce_f32']['error']}")

    for runner in (gpu_runner, f32_gpu, cpu_runner, reference):
        if runner is not None:
            runner.close()
    handler.close()
    out_file = args.out / "gpu_check.json"
    out_file.write_text(json.dumps(result, indent=1, default=str))
    say(f"\nwritten: {out_file} (native log: {native_log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
