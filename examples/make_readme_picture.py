"""Make the README's picture: a frame of the demo clip beside the same frame after ``streamer convert``.

    python examples/make_readme_picture.py docs/demo_starry.jpg [--style starry]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
from PIL import Image

from streamer.sources.synthetic import write_clip


def frame(path: Path, index: int) -> Image.Image:
    """Frame ``index`` of a video as a PIL image."""
    with av.open(str(path)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            if i == index:
                return decoded.to_image()
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--style", default="starry")
    parser.add_argument("--frame", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "demo.mp4", frames=args.frame + 1, width=640, height=480, fps=25)
        styled = Path(tmp) / "styled.mp4"
        subprocess.run([sys.executable, "-m", "streamer", "convert", str(clip), "--style", args.style,
                        "-o", str(styled), "--no-progress"], check=True)
        before, after = frame(clip, args.frame), frame(styled, args.frame)
    width, height = before.size
    sheet = Image.new("RGB", (2 * width + 8, height), "white")
    sheet.paste(before, (0, 0))
    sheet.paste(after, (width + 8, 0))
    sheet = sheet.resize((sheet.width * 3 // 4, sheet.height * 3 // 4), Image.Resampling.LANCZOS)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=85)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
