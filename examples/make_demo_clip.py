"""Write a small demo clip (an animated scene with a tone) to try ``streamer convert`` on.

    python examples/make_demo_clip.py demo.mp4
"""

from __future__ import annotations

import sys

from streamer.sources.synthetic import write_clip

if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "demo.mp4"
    write_clip(target, frames=100, width=640, height=480, fps=25)
    print(f"wrote {target}")
