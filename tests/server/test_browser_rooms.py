"""A call in real Chromium: two pages with fake cameras join one room and each sees the other's
stylized video. Needs Debian's ``chromium`` and the Python ``playwright`` package (see
DEVELOPERS.md); skipped with the reason otherwise."""

from __future__ import annotations

import tempfile
import time

import pytest

from streamer.config import ProcessingSize
from streamer.server import ServerSettings

from .harness import mean_abs_diff, run, running_server, started_engine
from .test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, grab

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TOKEN = "room-browser-token"

# True once the page shows a playing tile for someone other than itself.
OTHER_PLAYING = """() => {
  const me = window.room.you;
  const other = (window.room.participants || []).find((p) => p.id !== me && p.mid);
  if (!other) return false;
  const video = document.querySelector(`[data-participant="${other.id}"] video`);
  return video !== null && video.videoWidth > 0 && video.currentTime > 0.5;
}"""


def test_browser_room_when_two_pages_join_then_each_sees_the_other_stylized(model: str) -> None:
    executable = chromium_path()
    playwright = pytest.importorskip("playwright.async_api", reason="the Python playwright package is missing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def scenario() -> dict:
        settings = ServerSettings(port=0, size=ProcessingSize(128), token=TOKEN)
        async with started_engine(model) as engine, running_server(engine, settings) as server, \
                playwright.async_playwright() as pw:
            first, second = server.style_names
            contexts, pages, console = [], [], []
            try:
                for name, style in (("Ann", first), ("Bob", second)):
                    profile = tempfile.TemporaryDirectory(prefix="streamer-chromium-")
                    context = await pw.chromium.launch_persistent_context(
                        profile.name, executable_path=executable, headless=True, args=CHROMIUM_ARGS)
                    contexts.append((context, profile))
                    page = await context.new_page()
                    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                    await page.goto(f"{server.url}/room/team#token={TOKEN}&name={name}&style={style}")
                    pages.append(page)
                opened = time.monotonic()
                seen = {}
                for page in pages:
                    try:
                        await page.wait_for_function(OTHER_PLAYING, timeout=90_000)
                    except Exception as exc:
                        await page.screenshot(path=str(ARTIFACTS / "room_failed.png"))
                        slots = {p.name: (p.pc.connectionState, p.snapshot()["slots"])
                                 for p in server.context.rooms.get("team").participants.values()}
                        raise AssertionError(f"the other participant never showed ({exc}); console: {console}; "
                                             f"errors: {await page.evaluate('window.room.errors')}; "
                                             f"server side (connection, slots): {slots}") from None
                    await page.wait_for_timeout(1500)
                    # still (or again, after a reconnect on a loaded machine) playing
                    await page.wait_for_function(OTHER_PLAYING, timeout=60_000)
                    me = await page.evaluate("window.room.you")
                    people = await page.evaluate("window.room.participants")
                    other = next(p for p in people if p["id"] != me)
                    seen[other["name"]] = {
                        "style": other["style"],
                        "tile": await grab(page, f'[data-participant="{other["id"]}"] video'),
                        "camera": await grab(page, "#local"),
                        "names": sorted(p["name"] for p in people),
                        "errors": await page.evaluate("window.room.errors"),
                    }
                both_after = time.monotonic() - opened
                shot = ARTIFACTS / "room_page.png"
                await pages[0].screenshot(path=str(shot), full_page=True)
                room = server.context.rooms.get("team").snapshot()
                await pages[1].close(run_before_unload=True)  # Bob leaves
                deadline = time.monotonic() + 20
                while len(server.context.rooms.get("team").participants) != 1 and time.monotonic() < deadline:
                    await pages[0].wait_for_timeout(100)
                await pages[0].wait_for_function(
                    "() => (window.room.participants || []).length === 1", timeout=20_000)
                left = await pages[0].evaluate("document.querySelectorAll('#tiles [data-participant]').length")
            finally:
                for context, profile in contexts:
                    await context.close()
                    profile.cleanup()
            return {"seen": seen, "after": both_after, "room": room, "left_tiles": left, "shot": shot,
                    "first": first, "second": second}

    r = run(scenario(), limit=300)
    ann, bob = r["seen"]["Ann"], r["seen"]["Bob"]
    differences = {name: mean_abs_diff(v["tile"], v["camera"]) for name, v in r["seen"].items()}
    print(f"\nscreenshot {r['shot']}; both saw each other after {r['after']:.1f} s; "
          f"tile vs the viewer's own camera (same fake pattern): {differences}")
    assert ann["style"] == r["first"] and bob["style"] == r["second"], "each is shown in their own style"
    assert ann["names"] == bob["names"] == ["Ann", "Bob"]
    assert min(differences.values()) > 25.0, "a page shows a camera picture, not a stylized one"
    assert ann["errors"] == [] and bob["errors"] == []
    assert len(r["room"]["participants"]) == 2
    assert r["left_tiles"] == 1, "after Bob left, Ann's page shows only herself"
