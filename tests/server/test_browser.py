"""End to end in a real Chromium: fake camera -> page -> server -> stylized video on the page.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the Python ``playwright``
package; Playwright's own browser download is not used. See DEVELOPERS.md.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamer.config import ProcessingSize
from streamer.server import ServerSettings
from streamer.server.tls import self_signed_certificate

from .harness import checker, ice_addresses, mean_abs_diff, png_bytes, run, running_server, started_engine
from .netns import loopback_only_host

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
TOKEN = "browser-test-token"

#: the flags DEVELOPERS.md documents: headless, offline, fake camera granted without a prompt
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]

# Draws the video element matching a CSS selector into a small canvas; returns its RGBA pixels
# as base64.
GRAB = """([selector, w, h]) => {
  const video = document.querySelector(selector);
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  let s = '';
  for (let i = 0; i < data.length; i += 8192) s += String.fromCharCode(...data.subarray(i, i + 8192));
  return btoa(s);
}"""


def chromium_path() -> str:
    """Debian's Chromium binary (``$STREAMER_CHROMIUM`` overrides); skips the test if absent."""
    for candidate in (os.environ.get("STREAMER_CHROMIUM"), "/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("Chromium is not installed (apt-get install -y chromium), or set STREAMER_CHROMIUM")


async def grab(page, selector: str) -> np.ndarray:  # noqa: ANN001
    """The pixels of the video ``selector`` names, drawn at 160x120 (RGB)."""
    raw = base64.b64decode(await page.evaluate(GRAB, [selector, 160, 120]))
    return np.frombuffer(raw, np.uint8).reshape(120, 160, 4)[..., :3]


async def _frames_out(page) -> int:  # noqa: ANN001
    return int(await page.evaluate("window.streamer.server ? window.streamer.server.frames_out : 0"))


async def _wait_frames(page, count: int) -> None:  # noqa: ANN001
    """Wait until the server reports ``count`` more frames sent to this page (bounded)."""
    start = await _frames_out(page)
    await page.wait_for_function("(n) => window.streamer.server && window.streamer.server.frames_out >= n",
                                 arg=start + count, timeout=30_000)


@contextlib.asynccontextmanager
async def chromium_page(pw: Any, executable: str, args: list[str] | None = None) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium (temporary profile), closed after the block."""
    with tempfile.TemporaryDirectory(prefix="streamer-chromium-") as profile:
        context = await pw.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=args or CHROMIUM_ARGS)
        try:
            yield await context.new_page()
        finally:
            await context.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_browser_when_page_opened_then_stylized_video_plays_and_styles_switch(model: str, scheme: str) -> None:
    executable = chromium_path()
    playwright = pytest.importorskip("playwright.async_api", reason="the Python playwright package is missing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # https: a certificate made at start, as `streamer serve --tls-self-signed` does; the
    # browser is told to accept it (a user clicks through the warning once)
    tls = self_signed_certificate() if scheme == "https" else None
    args = CHROMIUM_ARGS + (["--ignore-certificate-errors"] if tls else [])

    async def scenario() -> dict:
        settings = ServerSettings(port=0, size=ProcessingSize(128), token=TOKEN)
        async with started_engine(model) as engine, running_server(engine, settings, tls=tls) as server, \
                playwright.async_playwright() as pw, chromium_page(pw, executable, args) as page:
            first, second = server.style_names
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            opened = time.monotonic()
            await page.goto(f"{server.url}/#token={TOKEN}")
            try:
                await page.wait_for_function(
                    "() => document.getElementById('remote').videoWidth > 0"
                    " && window.streamer.connection === 'connected'", timeout=60_000)
            except Exception as exc:
                await page.screenshot(path=str(ARTIFACTS / f"failed_start_{scheme}.png"))
                raise AssertionError(f"video did not start ({exc}); console: {console}") from None
            first_video = time.monotonic() - opened
            width = await page.evaluate("document.getElementById('remote').videoWidth")
            # the session counter follows the server (it said 0/4 while connected)
            await page.wait_for_function(
                "() => document.getElementById('server-info').textContent.includes(' 1/')", timeout=30_000)
            counter = await page.evaluate("document.getElementById('server-info').textContent")
            await _wait_frames(page, 5)
            camera = await grab(page, "#local")
            first_a = await grab(page, "#remote")
            await _wait_frames(page, 3)
            first_b = await grab(page, "#remote")
            assert await page.evaluate("window.streamer.selected") == first

            await page.click(f'#gallery button[data-style="{second}"]')
            await page.wait_for_function(
                "(name) => window.streamer.styleAck && window.streamer.styleAck.style === name",
                arg=second, timeout=30_000)
            # the page shows the new style once the browser has decoded and shown its frames,
            # which a loaded machine delays: look again (bounded) until the picture changes
            same_style = mean_abs_diff(first_a, first_b)
            deadline = time.monotonic() + 20
            while True:
                await _wait_frames(page, 3)
                switched = await grab(page, "#remote")
                if mean_abs_diff(first_b, switched) > 2.0 * same_style + 5.0 or time.monotonic() > deadline:
                    break
            shot = ARTIFACTS / f"serve_page_{scheme}.png"
            await page.screenshot(path=str(shot), full_page=True)
            meters = await page.evaluate(
                "['fps', 'rtt', 'latency', 'dropped'].map((id) => document.getElementById(id).textContent)")

            uploaded = None
            if engine.model_set.predictor is not None:
                image = ARTIFACTS / "upload_style.png"
                image.write_bytes(png_bytes(checker(200, 200)[::-1].copy()))
                await page.set_input_files("#upload", str(image))
                await page.wait_for_function(
                    "() => window.streamer.styleAck && window.streamer.styleAck.style.startsWith('upload-')",
                    timeout=30_000)
                uploaded = await page.evaluate("window.streamer.styleAck.style")
            session_count = len(server.registry)
            server_ice = ice_addresses(next(iter(server.registry)).pc)
            # Stop: the meters clear and the counter follows; Start again connects again
            await page.click("#stop")
            await page.wait_for_function(
                "() => document.getElementById('server-info').textContent.includes(' 0/')"
                " && document.getElementById('fps').textContent === '–'", timeout=30_000)
            await page.click("#start")
            await page.wait_for_function(
                "() => window.streamer.connection === 'connected'"
                " && document.getElementById('server-info').textContent.includes(' 1/')", timeout=60_000)
            errors = await page.evaluate("window.streamer.errors")
            await page.close(run_before_unload=True)  # the tab goes away
            freed_after = await server.wait_sessions(0, limit=20)
            return {"first_video": first_video, "width": width, "camera": camera, "first_a": first_a,
                    "first_b": first_b, "switched": switched, "shot": shot, "meters": meters, "uploaded": uploaded,
                    "sessions": session_count, "server_ice": server_ice, "errors": errors, "freed_after": freed_after,
                    "counter": counter, "url": server.url}

    r = run(scenario(), limit=240)
    stylized_vs_camera = mean_abs_diff(r["first_a"], r["camera"])
    same_style = mean_abs_diff(r["first_a"], r["first_b"])
    across_styles = mean_abs_diff(r["first_b"], r["switched"])
    print(f"\nscreenshot: {r['shot']}\nstylized video after {r['first_video']:.2f} s, videoWidth {r['width']}; "
          f"stylized vs camera {stylized_vs_camera:.1f}; "
          f"same style a moment later {same_style:.1f}; after the switch {across_styles:.1f}; "
          f"page shows fps {r['meters'][0]}, round trip {r['meters'][1]}; upload {r['uploaded']}; "
          f"tab closed -> session freed after {r['freed_after']:.2f} s; server ICE addresses {r['server_ice']}; "
          f"{r['url']}; page says: {r['counter']}")
    assert r["width"] > 0 and r["sessions"] == 1
    assert stylized_vs_camera > 25.0, "the page shows the camera, not a stylized picture"
    assert across_styles > 2.0 * same_style + 5.0, "switching style from the page did not change the video"
    assert r["meters"][0] not in ("", "–") and r["meters"][1].endswith("ms") and r["meters"][2].endswith("ms")
    assert r["url"].startswith(f"{scheme}://") and "1/4 sessions" in r["counter"]
    assert r["errors"] == []
    assert r["server_ice"]["local"] == ["127.0.0.1"], "the server offered more than loopback"
    if loopback_only_host():  # else Chromium also checks from its other interfaces' sockets
        assert all(ipaddress.ip_address(a).is_loopback for a in r["server_ice"]["remote"]), r["server_ice"]
    assert r["shot"].is_file()


def test_browser_when_inference_fails_then_page_shows_why_the_session_ended(model: str) -> None:
    executable = chromium_path()
    playwright = pytest.importorskip("playwright.async_api", reason="the Python playwright package is missing")
    from streamer.server import Gallery

    from ..fakes import failing_engine

    async def scenario() -> tuple[str, str, str | None]:
        engine = failing_engine(model, good_calls=10)
        async with engine:
            gallery = Gallery(engine.styles.builtins) if engine.styles.builtins else None
            async with running_server(engine, ServerSettings(port=0, size=ProcessingSize(128)), gallery) as server, \
                    playwright.async_playwright() as pw:
                with tempfile.TemporaryDirectory(prefix="streamer-chromium-") as profile:
                    context = await pw.chromium.launch_persistent_context(
                        profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS)
                    try:
                        page = await context.new_page()
                        await page.goto(server.url)
                        # the eleventh inference raises: the page says so and stops the call
                        await page.wait_for_function(
                            "() => !document.getElementById('error').hidden"
                            " && document.getElementById('error').textContent.includes('session')",
                            timeout=60_000)
                        shown = await page.evaluate("document.getElementById('error').textContent")
                        status = await page.evaluate("document.getElementById('status').textContent")
                        reasons = [s.close_reason for s in server.registry]
                        await server.wait_sessions(0, limit=20)
                    finally:
                        await context.close()
        return shown, status, reasons[0] if reasons else None

    shown, status, _ = run(scenario(), limit=180)
    assert shown.startswith("the server ended the session: inference failed: InferenceBroke"), shown
    assert status == "stopped"


def test_browser_chromium_args_match_the_docs() -> None:
    text = (ROOT / "DEVELOPERS.md").read_text(encoding="utf-8")
    missing = [arg for arg in CHROMIUM_ARGS if arg not in text]
    assert not missing, f"DEVELOPERS.md does not list {missing}"




def test_browser_when_media_cannot_connect_then_page_says_why_within_10_s(model: str) -> None:
    executable = chromium_path()
    playwright = pytest.importorskip("playwright.async_api", reason="the Python playwright package is missing")

    async def scenario() -> dict:
        async with started_engine(model) as engine, running_server(engine) as server, \
                playwright.async_playwright() as pw, chromium_page(pw, executable) as page:
            answered: list[float] = []

            def unreachable(sdp: str) -> str:  # every candidate moved to a port where nobody listens
                return re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ \S+) \d+ typ", r"\1 9 typ", sdp)

            async def no_path(route: Any) -> None:
                # both ends see only dead addresses (one side alone would be found peer-reflexively)
                if route.request.method != "POST":
                    await route.continue_()
                    return
                offer = json.loads(route.request.post_data)
                response = await route.fetch(post_data=json.dumps({**offer, "sdp": unreachable(offer["sdp"])}))
                answer = await response.json()
                answered.append(time.monotonic())
                await route.fulfill(response=response, json={**answer, "sdp": unreachable(answer["sdp"])})

            await page.route("**/api/sessions", no_path)
            await page.goto(server.url + "/")
            await page.wait_for_function("() => window.streamer.sessionId !== null", timeout=60_000)
            await page.wait_for_function("() => !document.getElementById('error').hidden", timeout=15_000)
            told_after = time.monotonic() - answered[0]
            message = await page.evaluate("document.getElementById('error').textContent")
            await server.wait_sessions(0, limit=20)  # the page's Stop freed the session
            return {"after": told_after, "message": message}

    r = run(scenario(), limit=180)
    print(f"\nthe page said after {r['after']:.1f} s: {r['message']}")
    assert r["after"] < 10.0
    assert "127.0.0.1:9" in r["message"] and "--ice-host" in r["message"]
