"""What a new user installs and reads first: the package's dependencies and the README's picture."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
#: distributions that all install the `cv2` module (only one may be installed)
OPENCV_BUILDS = {"opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_dependencies_when_any_extra_is_added_then_one_opencv_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _names(project["dependencies"])
    for extra, requirements in project.get("optional-dependencies", {}).items():
        builds = (base | _names(requirements)) & OPENCV_BUILDS
        assert len(builds) == 1, f"[{extra}] installs {sorted(builds)}: they overwrite each other's cv2"


def test_readme_when_read_then_it_shows_a_picture_of_the_result() -> None:
    text = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", text)
    assert pictures, "README has no picture"
    for link in pictures:
        with Image.open(ROOT / link) as picture:
            assert picture.width >= 320 and picture.height >= 120, (link, picture.size)


def test_readme_when_read_then_benchmarks_are_a_summary() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("## Benchmarks")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    assert (end - start) / len(lines) <= 0.15, f"benchmarks take {(end - start) / len(lines):.0%} of the README"
    assert "benchmarks/README.md" in "\n".join(lines[start:end])
