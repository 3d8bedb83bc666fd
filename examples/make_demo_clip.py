"""Write a small demo clip (an animated scene with a tone) to try ``streamer convert`` on.

    python examples/make_demo_clip.py ~/streamer-demo/demo.mp4

The folder is created if needed and an existing clip is replaced, so this can be run again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamer.sources.synthetic import write_clip

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "~/streamer-demo/demo.mp4").expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_clip(target, frames=100, width=640, height=480, fps=25)
    print(f"wrote {target}")
