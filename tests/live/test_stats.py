"""A live session's snapshot and the status line."""

from pathlib import Path

from streamer.live.stats import LiveSnapshot, status_line


def test_status_line_when_reconnecting_says_so() -> None:
    snap = LiveSnapshot(elapsed_s=3.0, state="reconnecting", source="rtsp://***@cam/x", backend="cpu int8",
                        style="starry", strength=0.8, fps_in=30.0, fps_out=3.4, inference_ms=290.0,
                        latency_p50_ms=310.0, latency_p95_ms=330.0, frames_in=90, frames_out=10,
                        dropped_capture=5, dropped_engine=70, max_pending=2, reconnects=1)
    line = status_line(snap)
    assert line.startswith("RECONNECTING | in 30.0 fps | out  3.4 fps | infer 290 ms")
    assert "p50 310 / p95 330 ms" in line and "dropped 75" in line and "starry @ 0.80" in line
    assert snap.as_dict()["dropped"] == 75


def _snapshot(**changes: object) -> LiveSnapshot:
    values: dict[str, object] = dict(
        elapsed_s=1.0, state="running", source="cam", backend="cpu int8", style="starry", strength=1.0,
        fps_in=30.0, fps_out=30.0, inference_ms=10.0, latency_p50_ms=20.0, latency_p95_ms=30.0,
        frames_in=30, frames_out=30, dropped_capture=0, dropped_engine=0, max_pending=1, reconnects=0)
    values.update(changes)
    return LiveSnapshot(**values)  # type: ignore[arg-type]


def test_status_printer_when_not_a_terminal_prints_lines_and_keeps_json_current(tmp_path: Path) -> None:
    import io
    import json

    from streamer.live.status import StatusPrinter

    out = io.StringIO()
    printer = StatusPrinter(out, show=True, stats_json=tmp_path / "stats.json")
    printer(_snapshot(frames_out=1))
    printer(_snapshot(frames_out=2))
    printer.finish()
    assert out.getvalue().count("\n") == 2 and "\r" not in out.getvalue()
    assert json.loads((tmp_path / "stats.json").read_text())["frames_out"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_status_printer_when_on_a_terminal_redraws_and_clears_it_for_log_messages() -> None:
    import io
    import logging

    from streamer.live.status import StatusPrinter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    handler = logging.StreamHandler(term)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        printer = StatusPrinter(term)
        printer(_snapshot())
        logging.getLogger("streamer.test").warning("reconnecting")
        printer.finish()
        logging.getLogger("streamer.test").warning("after")
    finally:
        root.removeHandler(handler)
    text = term.getvalue()
    assert text.startswith("\x1b[Kin 30.0 fps") and "\r\x1b[Kreconnecting\n" in text
    assert text.endswith("\nafter\n")
