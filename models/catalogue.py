"""The style and content images: training/held-out split and the built-in styles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.paths import require_shared

# Held out from all training (transform and predictor); used only by the evaluation. Chosen to
# span drawings, textures, patterns and paintings, and to have no near-duplicate among the
# training styles (tfexample_style19/24/5 are copies or crops of the pd_* paintings, so they stay
# on the training side together with those).
HELD_OUT_STYLES: tuple[str, ...] = (
    "magenta_Camille_Mauclair.jpg",
    "magenta_bricks_sq.jpg",
    "magenta_pink_zigzag.jpg",
    "magenta_red_texture_sq.jpg",
    "magenta_towers_1916_sq.jpg",
    "tfexample_style0.jpg",
    "tfexample_style3.jpg",
    "tfexample_style8.jpg",
    "tfexample_style11.jpg",
    "tfexample_style14.jpg",
    "tfexample_style16.jpg",
    "tfexample_style22.jpg",
)


@dataclass(frozen=True)
class BuiltinStyle:
    """A style shipped in ``styles.json`` as a pre-computed embedding."""

    key: str
    title: str
    source: str


BUILTIN_STYLES: tuple[BuiltinStyle, ...] = (
    BuiltinStyle("starry", "The Starry Night — Vincent van Gogh", "pd_starry_night.jpg"),
    BuiltinStyle("wave", "The Great Wave off Kanagawa — Hokusai", "pd_wave_crop.jpg"),
    BuiltinStyle("scream", "The Scream — Edvard Munch", "pd_the_scream.jpg"),
    BuiltinStyle("kandinsky", "Composition VII — Wassily Kandinsky", "pd_composition_vii.jpg"),
    BuiltinStyle("stained_glass", "Stained glass", "tfexample_style15.jpg"),
    BuiltinStyle("cosmos", "Cosmos (blue dotted rings)", "tfexample_style6.jpg"),
    BuiltinStyle("blossoms", "Blossoms (bright folk flowers)", "tfexample_style4.jpg"),
    BuiltinStyle("ember", "Ember (red swirls)", "tfexample_style20.jpg"),
    BuiltinStyle("cubes", "Cubes (blue and yellow blocks)", "tfexample_style7.jpg"),
    BuiltinStyle("zigzag", "Zigzag (colourful chevrons)", "magenta_zigzag_colorful.jpg"),
)


def style_dir() -> Path:
    """Directory of the style images in the shared data."""
    return require_shared("media/styles")


def all_styles() -> list[str]:
    """File names of every style image, sorted."""
    return sorted(p.name for p in style_dir().glob("*.jpg"))


def training_styles() -> list[str]:
    """Style images used for training (all but :data:`HELD_OUT_STYLES`)."""
    held = set(HELD_OUT_STYLES)
    return [name for name in all_styles() if name not in held]


def content_images(split: str) -> list[Path]:
    """Content photos of ``train`` or ``val``, sorted."""
    return sorted(require_shared(f"media/content/{split}").glob("*.jpg"))


def extra_styles() -> list[Path]:
    """The extra training style images (wallpapers and artwork, ``media/styles_extra``), sorted."""
    return sorted(require_shared("media/styles_extra").glob("*.jpg"))
