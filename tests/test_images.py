"""Image loading: formats, modes, EXIF orientation, corrupt files, limits, input expansion."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2pcount.errors import ImageError
from p2pcount.io.images import load_image
from p2pcount.io.inputs import expand_inputs, list_folder


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _palette_image() -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([200, 30, 10, 5, 90, 250] + [0] * 762)
    image.putpixel((1, 0), 1)
    return image


#: Two-pixel images of each mode, their file format, and the RGB they must load as.
MODES = {
    "L": (Image.frombytes("L", (2, 1), bytes([40, 220])), "png", [[40] * 3, [220] * 3]),
    "LA": (Image.frombytes("LA", (2, 1), bytes([40, 255, 0, 0])), "png", [[40] * 3, [255] * 3]),
    "P": (_palette_image(), "png", [[200, 30, 10], [5, 90, 250]]),
    "RGBA": (
        Image.frombytes("RGBA", (2, 1), bytes([10, 20, 30, 255, 0, 0, 0, 0])),
        "png",
        [[10, 20, 30], [255, 255, 255]],
    ),
    "1": (Image.frombytes("L", (2, 1), bytes([0, 255])).convert("1"), "png", [[0] * 3, [255] * 3]),
    "RGB-webp": (
        Image.frombytes("RGB", (2, 1), bytes([10, 20, 30, 200, 100, 0])),
        "webp",
        [[10, 20, 30], [200, 100, 0]],
    ),
    "RGB-bmp": (
        Image.frombytes("RGB", (2, 1), bytes([10, 20, 30, 200, 100, 0])),
        "bmp",
        [[10, 20, 30], [200, 100, 0]],
    ),
    "RGB-tiff": (
        Image.frombytes("RGB", (2, 1), bytes([10, 20, 30, 200, 100, 0])),
        "tiff",
        [[10, 20, 30], [200, 100, 0]],
    ),
}


@pytest.mark.parametrize("case", sorted(MODES))
def test_any_mode_and_format_becomes_rgb(tmp_path: Path, case: str) -> None:
    image, suffix, expected = MODES[case]
    path = _save(
        image, tmp_path / f"x.{suffix}", **({"lossless": True} if suffix == "webp" else {})
    )
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (2, 1)
    assert np.asarray(loaded).tolist() == [expected]


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cyan = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # JPEG is lossy: compare closely
    loaded = np.asarray(load_image(_save(cyan, tmp_path / "c.jpg", quality=100)), dtype=int)
    assert loaded.shape == (8, 8, 3)
    assert np.abs(loaded - [0, 255, 255]).max() <= 3


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert np.asarray(load_image(path))[0, :, 0].tolist() == [0, 128, 255]


def test_float_image_is_scaled_from_its_range(tmp_path: Path) -> None:
    values = np.array([[-1.0, 0.0, 1.0]], dtype=np.float32)
    path = _save(Image.fromarray(values, mode="F"), tmp_path / "f.tiff")
    assert np.asarray(load_image(path))[0, :, 1].tolist() == [0, 128, 255]


def test_transparency_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 255, 255))
    path = _save(image, tmp_path / "alpha.png")
    assert np.asarray(load_image(path)).tolist() == [[[255, 255, 255], [0, 0, 255]]]


def test_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pixel = np.asarray(load_image(path))[0, 0]
    assert pixel[0] > 200 and pixel[1] < 50


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 10))  # white top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = _save(image, tmp_path / "rot.jpg", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    array = np.asarray(loaded)
    assert array[2, 17].min() > 200  # the corner is now at the top right
    assert array[2, 2].max() < 50


def test_missing_directory_and_non_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="nope.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg: not an image file Pillow can read"):
        load_image(text)


def test_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buffer, format="JPEG"
    )
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.jpg: corrupt or truncated image"):
        load_image(path)


def test_max_pixels_replaces_pillows_bomb_check(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (100, 50)), tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"100x50 is 5,000 pixels, over the --max-pixels limit"):
        load_image(path, max_pixels=4999)
    assert load_image(path, max_pixels=5000).size == (100, 50)


def test_folder_listing_is_natural_and_skips_non_images(tmp_path: Path) -> None:
    for name in ("img10.jpg", "img2.png", "readme.txt", "img1.JPG"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"")
    assert [p.name for p in list_folder(tmp_path)] == ["img1.JPG", "img2.png", "img10.jpg"]
    assert [p.name for p in list_folder(tmp_path, recursive=True)][-1] == "deep.png"


def test_folder_listing_survives_symlink_cycles_and_broken_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"")
    (tmp_path / "sub" / "up").symlink_to("..")  # a cycle: listed once
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")  # cannot even be examined
    (tmp_path / "gone.png").symlink_to("nowhere.png")
    found = list_folder(tmp_path, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "gone.png", "loop.jpg", "sub/deep.png",
    ]  # fmt: skip
    for path in found[:2]:
        with pytest.raises(ImageError, match=f"^{path}: broken symbolic link$"):
            load_image(path)


def test_unlistable_folder_is_reported_or_raised(tmp_path: Path, deny_listing) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.jpg").write_bytes(b"")
    deny_listing(locked)
    problems: list[tuple[str, str]] = []
    found = list(
        expand_inputs([str(tmp_path)], recursive=True, on_error=lambda *e: problems.append(e))
    )
    assert found == [str(tmp_path / "a.jpg")]
    assert problems == [(str(locked), "cannot list folder (Permission denied)")]
    with pytest.raises(ImageError, match="locked: cannot list folder"):
        list_folder(tmp_path, recursive=True)


def test_expand_inputs_keeps_order_and_reads_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    stdin = ["x.png\n", "\n", "  \n", "y.png\r\n"]
    found = list(expand_inputs(["first.jpg", "-", str(tmp_path), "missing.jpg"], stdin))
    assert found == ["first.jpg", "x.png", "y.png", str(tmp_path / "a.jpg"), "missing.jpg"]
