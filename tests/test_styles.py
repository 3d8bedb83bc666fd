"""Style images (every bad kind), the embedding cache, and blending."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streamer import Engine, Frame, StyleRecipe
from streamer.errors import ConfigError, StyleError
from streamer.images import decode_image, read_image
from streamer.inference.backends import BackendOptions
from streamer.styles import CONTENT_REFRESH_SECONDS, StyleMixer, blend

from .media import pattern_frame


def png_bytes(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims ``width x height`` (a decompression bomb's shape)."""
    data = bytearray(png_bytes(Image.new("RGB", (8, 8))))
    ihdr = 8  # after the signature: length(4) type(4) data(13) crc(4)
    data[ihdr + 8: ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4: ihdr + 21]))
    data[ihdr + 21: ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


# -- refused inputs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"this is not an image at all", "not an image"),
        (png_claiming_size(9000, 9000), "megapixels, over the limit"),
        (png_claiming_size(40000, 40000), "over the limit of 40 megapixels"),
    ],
    ids=["empty", "text", "bomb", "giant-bomb"],
)
def test_decode_when_input_is_bad_raises_clear_error(content: bytes, message: str) -> None:
    with pytest.raises(StyleError, match=message):
        decode_image(content, "style.png")


def test_decode_when_jpeg_truncated_raises_clear_error() -> None:
    out = io.BytesIO()
    Image.fromarray(pattern_frame(0, 200, 200)).save(out, "JPEG", quality=90)
    with pytest.raises(StyleError, match="truncated or corrupt"):
        decode_image(out.getvalue()[: len(out.getvalue()) // 2], "cut.jpg")


def test_decode_when_png_truncated_raises_clear_error() -> None:
    data = png_bytes(Image.fromarray(pattern_frame(0, 200, 200)))
    for cut in (len(data) // 2, 3 * len(data) // 4):
        with pytest.raises(StyleError, match="truncated or corrupt"):
            decode_image(data[:cut], "cut.png")


@pytest.mark.parametrize("interlace", [0, 1])
def test_decode_when_plain_rgb_png_then_pillow_never_copies_the_pixels(monkeypatch: pytest.MonkeyPatch,
                                                                       interlace: int) -> None:
    # Pillow holds the GIL while it allocates and copies a decoded image (tens of ms at 16
    # megapixels, stalling the server's event loop): a plain 8-bit RGB PNG must not go through it.
    image = pattern_frame(3, 240, 320)
    data = png_bytes(Image.fromarray(image), interlace=interlace)

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow decoded the pixels")

    monkeypatch.setattr(Image.Image, "tobytes", tripwire)
    monkeypatch.setattr(Image.Image, "load", tripwire)
    decoded = decode_image(data, "plain.png")
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(decoded.rgb, image)  # lossless: exactly the pixels saved
    assert (decoded.format, decoded.mode, decoded.alpha, decoded.frames) == ("PNG", "RGB", None, 1)


def test_decode_when_png_has_alpha_or_16_bits_then_pillows_conversions_apply() -> None:
    rgba = np.dstack([pattern_frame(1, 40, 60), np.full((40, 60), 128, np.uint8)])
    decoded = decode_image(png_bytes(Image.fromarray(rgba, "RGBA")), "alpha.png")
    assert decoded.alpha is not None and decoded.conversions == ["transparency composited over white"]
    deep = Image.fromarray(np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27)
    decoded = decode_image(png_bytes(deep), "deep.png")
    assert decoded.rgb.shape == (40, 60, 3) and decoded.alpha is None


def test_read_when_path_is_missing_or_a_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(StyleError, match="no such file"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(StyleError, match="is a directory"):
        read_image(tmp_path)


# -- documented conversions ----------------------------------------------------------------
def test_decode_16bit_grayscale_scales_to_8bit() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16).repeat(4, axis=0)
    decoded = decode_image(png_bytes(Image.fromarray(values)), "deep.png")
    assert decoded.rgb.shape == (4, 3, 3)
    assert list(decoded.rgb[0, :, 0]) == [0, 128, 255]  # scaled, not clipped
    assert decoded.conversions == ["I;16 converted to 8-bit RGB"]


def test_decode_grayscale_cmyk_alpha_and_animation_become_rgb() -> None:
    gray = decode_image(png_bytes(Image.new("L", (5, 4), 77)))
    assert gray.rgb.shape == (4, 5, 3) and (gray.rgb == 77).all()

    cmyk_buf = io.BytesIO()
    Image.new("CMYK", (6, 6), (0, 255, 255, 0)).save(cmyk_buf, "JPEG")
    cmyk = decode_image(cmyk_buf.getvalue())
    assert cmyk.mode == "CMYK" and cmyk.rgb[3, 3, 0] > 200 and cmyk.rgb[3, 3, 1] < 60  # red

    rgba = decode_image(png_bytes(Image.new("RGBA", (4, 4), (0, 0, 0, 0))))
    assert (rgba.rgb == 255).all() and rgba.alpha is not None  # transparent -> white

    frames = [Image.new("RGB", (8, 8), c).convert("P") for c in ((255, 0, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    animated = decode_image(gif.getvalue())
    assert animated.frames == 2 and "first of 2 frames used" in animated.conversions


# -- blending ------------------------------------------------------------------------------
def test_blend_endpoints_and_midpoint() -> None:
    a, b = np.zeros(100, np.float32), np.ones(100, np.float32)
    assert np.allclose(blend(a, b, 0.0), a) and np.allclose(blend(a, b, 1.0), b)
    assert np.allclose(blend(a, b, 0.3), 0.3)


def test_recipe_when_values_are_bad_raises_config_error_naming_the_field_neutrally() -> None:
    with pytest.raises(ConfigError, match="^mix needs exactly two styles"):
        StyleRecipe.of(["a"], mix=0.5)
    with pytest.raises(ConfigError, match="^strength must be between 0 and 1, got 1.5"):
        StyleRecipe.of("a", strength=1.5)
    with pytest.raises(ConfigError, match="one or two styles"):
        StyleRecipe.of(["a", "b", "c"])


@pytest.mark.parametrize(("fields", "message"), [
    ({"strength": 1.5}, "^strength must be between 0 and 1, got 1.5$"),
    ({"mix": True}, "^mix must be a number between 0 and 1$"),
    ({"strength": "0.5"}, "^strength must be a number between 0 and 1$"),
    ({"style": 7}, "^style must be a style name$"),
    ({"colour": "red"}, "^unknown field\\(s\\): colour$"),
])
def test_recipe_updated_when_a_field_is_bad_names_it_without_cli_words(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        StyleRecipe(("a",)).updated(fields)
    assert "--" not in str(caught.value)


def test_recipe_updated_when_fields_change_keeps_the_others() -> None:
    recipe = StyleRecipe(("a",)).updated({"style2": "b", "mix": 0.25, "type": "style", "id": 3})
    assert recipe == StyleRecipe(("a", "b"), 0.25, 1.0)
    assert recipe.updated({"style": "c"}).styles == ("c", "b")
    assert recipe.updated({"style2": None}).styles == ("a",)
    assert recipe.updated({"style": None}).styles == ()  # pass-through
    assert recipe.as_dict() == {"style": "a", "style2": "b", "mix": 0.25, "strength": 1.0}


# -- with a real predictor ------------------------------------------------------------------
def _engine(model: str, cache_dir: Path) -> Engine:
    return Engine.create(model, BackendOptions(backend="cpu", threads=2), cache_dir=cache_dir)


def _style_file(folder: Path, seed: int = 0) -> Path:
    path = folder / f"style{seed}.png"
    Image.fromarray(pattern_frame(seed, 300, 260)).save(path)
    return path


def test_style_image_twice_runs_predictor_once_and_disk_cache_survives_restart(any_model: str,
                                                                               tmp_path: Path) -> None:
    style = _style_file(tmp_path)

    async def first() -> tuple[np.ndarray, int]:
        async with _engine(any_model, tmp_path / "cache") as engine:
            a = await engine.styles.embedding(style)
            b = await engine.styles.embedding(style)
            assert np.array_equal(a, b)
            return a, await engine.predictor_runs()

    async def second() -> tuple[np.ndarray, int, int]:
        async with _engine(any_model, tmp_path / "cache") as engine:
            cached = await engine.styles.embedding(style)
            other = _style_file(tmp_path, seed=9)
            await engine.styles.embedding(other)
            return cached, await engine.predictor_runs(), engine.styles.cache.hits

    embedding, runs = asyncio.run(first())
    assert runs == 1
    cached, runs_after_restart, hits = asyncio.run(second())
    assert np.array_equal(cached, embedding)
    assert runs_after_restart == 1  # only the new image ran the predictor
    assert hits == 1


def test_cache_entry_when_corrupt_is_recomputed(any_model: str, tmp_path: Path) -> None:
    style = _style_file(tmp_path)

    async def embed() -> int:
        async with _engine(any_model, tmp_path / "cache") as engine:
            await engine.styles.embedding(style)
            return await engine.predictor_runs()

    asyncio.run(embed())
    for entry in (tmp_path / "cache" / "embeddings").glob("*.npy"):
        entry.write_bytes(b"garbage")
    assert asyncio.run(embed()) == 1


def test_mixer_blends_mix_and_strength_as_documented(any_model: str, tmp_path: Path) -> None:
    a_path, b_path = _style_file(tmp_path, 1), _style_file(tmp_path, 2)
    content = Frame(pattern_frame(7, 120, 160), pts=0, time_base=Fraction(1, 1000))

    async def main() -> dict[str, np.ndarray | None]:
        async with _engine(any_model, tmp_path / "cache") as engine:
            r = engine.styles
            mixer = StyleMixer(r.embedding, engine.embed_image)
            found: dict[str, np.ndarray | None] = {
                "a": await r.embedding(a_path),
                "b": await r.embedding(b_path),
                "own": await engine.embed_image(content.image),
            }
            for key, recipe in [("mix", StyleRecipe.of([str(a_path), str(b_path)], mix=0.25)),
                                ("weak", StyleRecipe.of(str(a_path), strength=0.4)),
                                ("none", StyleRecipe.of(str(a_path), strength=0.0)),
                                ("pass", StyleRecipe(()))]:
                await mixer.set(recipe)
                found[key] = await mixer.embedding_for(content)
            return found

    e = asyncio.run(main())
    assert e["a"] is not None and e["b"] is not None and e["own"] is not None
    assert np.allclose(e["mix"], 0.75 * e["a"] + 0.25 * e["b"], atol=1e-5)
    assert np.allclose(e["weak"], 0.4 * e["a"] + 0.6 * e["own"], atol=1e-5)
    assert np.allclose(e["none"], e["own"], atol=1e-5)
    assert e["pass"] is None


def test_mixer_when_strength_below_one_recomputes_content_embedding_every_refresh_period(
        any_model: str, tmp_path: Path) -> None:
    # given frames 0.5 s apart whose picture changes, painted at strength 0.5
    frames = [Frame(pattern_frame(i, 96, 128), pts=500 * i, time_base=Fraction(1, 1000)) for i in range(13)]

    async def main() -> tuple[int, list[np.ndarray]]:
        async with _engine(any_model, tmp_path / "cache") as engine:
            builtin = next(iter(engine.styles.builtins), None) or str(_style_file(tmp_path))
            mixer = StyleMixer(engine.styles.embedding, engine.embed_image)
            await mixer.set(StyleRecipe.of(builtin, strength=0.5))
            out = [await mixer.embedding_for(f) for f in frames]
            return mixer.content_runs, [e for e in out if e is not None]

    runs, embeddings = asyncio.run(main())
    # then the predictor ran at 0 s, 3 s and 6 s of stream time: 3 times for 13 frames over 6 s
    assert runs == 1 + int(6.0 // CONTENT_REFRESH_SECONDS)
    assert np.array_equal(embeddings[0], embeddings[5])  # 0 s .. 2.5 s share one
    assert not np.array_equal(embeddings[5], embeddings[6])  # the 3 s frame brought a new one


def test_mixer_when_no_predictor_refuses_strength_below_one() -> None:
    async def lookup(name: str) -> np.ndarray:
        return np.zeros(100, np.float32)

    mixer = StyleMixer(lookup, None)
    with pytest.raises(StyleError, match="^strength below 1 needs a style predictor"):
        asyncio.run(mixer.set(StyleRecipe.of("a", strength=0.5)))
    asyncio.run(mixer.set(StyleRecipe.of("a")))
    assert mixer.recipe == StyleRecipe(("a",))


def test_unknown_style_name_lists_builtins(any_model: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(any_model, tmp_path) as engine:
            await engine.styles.embedding("no-such-style")

    with pytest.raises(StyleError, match="unknown style 'no-such-style'"):
        asyncio.run(main())


def test_memory_cache_is_bounded_and_falls_back_to_disk(tmp_path: Path) -> None:
    from streamer.styles import EmbeddingCache

    cache = EmbeddingCache(tmp_path, memory_entries=2)
    for i in range(3):
        cache.put(f"k{i}", np.full(100, i, np.float32))
    assert len(cache._memory) == 2  # noqa: SLF001 - the bound is the point of the test
    assert cache.get("k0") is not None and cache.get("k0")[0] == 0  # evicted from memory, read from disk
    assert EmbeddingCache(None, memory_entries=1).get("k0") is None
