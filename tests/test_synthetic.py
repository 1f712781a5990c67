"""Tests of the synthetic crowd-scene generator and its command-line wrapper."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from p2pcount.data.synthetic import (
    CLASSIC,
    HEAD_STYLES,
    VARIED_EMPTY_KINDS,
    generate_background,
    generate_empty,
    generate_item,
    generate_scene,
    varied,
    write_dataset,
)
from p2pcount.data.synthetic.crowd import sample_crowd
from p2pcount.data.synthetic.heads import HEADWEAR, restyle
from p2pcount.data.synthetic.surfaces import camera_effects

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL = {"min_size": 48, "max_size": 128, "max_people": 30}


def _scene(seed: int, width: int = 128, height: int = 96, people: int = 12):
    return generate_scene(np.random.default_rng(seed), width, height, people)


def _read_list(list_path: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for line in list_path.read_text().splitlines():
        image_rel, ann_rel = line.split()
        assert not Path(image_rel).is_absolute() and not Path(ann_rel).is_absolute()
        pairs.append((list_path.parent / image_rel, list_path.parent / ann_rel))
    return pairs


def _read_points(path: Path) -> np.ndarray:
    rows = [[float(v) for v in line.split()] for line in path.read_text().splitlines()]
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def test_scene_is_deterministic_per_seed() -> None:
    image_a, points_a = _scene(3)
    image_b, points_b = _scene(3)
    image_c, points_c = _scene(4)
    assert image_a.tobytes() == image_b.tobytes()
    np.testing.assert_array_equal(points_a, points_b)
    assert image_a.tobytes() != image_c.tobytes()
    assert points_a.shape != points_c.shape or not np.array_equal(points_a, points_c)


@pytest.mark.parametrize(("width", "height", "people"), [(64, 48, 1), (128, 96, 40), (96, 64, 0)])
def test_scene_points_shape_dtype_and_bounds(width: int, height: int, people: int) -> None:
    for seed in range(5):
        image, points = _scene(seed, width, height, people)
        assert image.mode == "RGB" and image.size == (width, height)
        assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 2
        assert len(points) <= people
        assert len(points) >= people - max(1, people // 10)  # only a few fully hidden
        assert np.all(points >= 0)
        assert np.all(points[:, 0] < width) and np.all(points[:, 1] < height)


def test_scene_is_not_flat() -> None:
    image, _ = _scene(7, 128, 96, 5)
    assert np.asarray(image, np.float32).std() > 5


@pytest.mark.parametrize("kind", ["blank", "textured"])
def test_empty_scenes(kind: str) -> None:
    image = generate_empty(np.random.default_rng(1), 80, 60, kind)
    again = generate_empty(np.random.default_rng(1), 80, 60, kind)
    assert image.mode == "RGB" and image.size == (80, 60)
    assert image.tobytes() == again.tobytes()


def test_background_is_textured_and_deterministic() -> None:
    image = generate_background(np.random.default_rng(4), 96, 64)
    again = generate_background(np.random.default_rng(4), 96, 64)
    other = generate_background(np.random.default_rng(5), 96, 64)
    assert image.mode == "RGB" and image.size == (96, 64)
    assert image.tobytes() == again.tobytes() != other.tobytes()
    assert np.asarray(image, np.float32).std() > 2


def test_blank_scene_is_nearly_flat() -> None:
    pixels = np.asarray(generate_empty(np.random.default_rng(2), 80, 60, "blank"), np.float32)
    assert np.ptp(pixels, axis=(0, 1)).max() <= 0.16 * 255 + 1


def test_invalid_arguments_raise() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        generate_empty(rng, 32, 32, "striped")
    with pytest.raises(ValueError):
        generate_scene(rng, 32, 32, -1)
    with pytest.raises(ValueError):
        generate_scene(rng, 0, 32, 1)
    with pytest.raises(ValueError):
        write_dataset(Path("unused"), 1, 0, min_size=64, max_size=32)


def test_item_is_independent_of_the_others(tmp_path: Path) -> None:
    list_path = write_dataset(tmp_path, 3, seed=5, **SMALL)
    image_path, ann_path = _read_list(list_path)[2]
    image, points = generate_item(5, 2, **SMALL)
    assert Image.open(image_path).size == image.size
    np.testing.assert_allclose(_read_points(ann_path), points, atol=0.006)


def test_dataset_layout_and_annotations(tmp_path: Path) -> None:
    list_path = write_dataset(tmp_path, 6, seed=1, empty_fraction=0.34, **SMALL)
    assert list_path == tmp_path / "list.txt"
    pairs = _read_list(list_path)
    assert [p.name for p, _ in pairs] == [f"{i:05d}.jpg" for i in range(6)]
    empty = 0
    for index, (image_path, ann_path) in enumerate(pairs):
        assert image_path.parent.name == "images" and ann_path.parent.name == "annotations"
        with Image.open(image_path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            width, height = image.size
        assert SMALL["min_size"] <= min(width, height) <= max(width, height) <= SMALL["max_size"]
        _, expected = generate_item(1, index, empty_fraction=0.34, **SMALL)
        points = _read_points(ann_path)
        np.testing.assert_allclose(points, expected, atol=0.006)
        assert np.all(points[:, 0] < width) and np.all(points[:, 1] < height)
        if len(points) == 0:
            assert ann_path.read_text() == ""
            empty += 1
    assert empty == 2


def test_dataset_is_byte_identical_per_seed(tmp_path: Path) -> None:
    first = write_dataset(tmp_path / "a", 3, seed=9, **SMALL).parent
    second = write_dataset(tmp_path / "b", 3, seed=9, **SMALL).parent
    other = write_dataset(tmp_path / "c", 3, seed=10, **SMALL).parent
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 7
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes()
    assert (first / files[0]).read_bytes() != (other / files[0]).read_bytes()


def test_all_empty_dataset_alternates_kinds(tmp_path: Path) -> None:
    list_path = write_dataset(tmp_path, 2, seed=0, empty_fraction=1.0, **SMALL)
    stds = []
    for image_path, ann_path in _read_list(list_path):
        assert ann_path.read_text() == ""
        stds.append(np.asarray(Image.open(image_path), np.float32).std())
    assert stds[0] < stds[1]  # blank, then textured


def test_cli_writes_dataset(tmp_path: Path) -> None:
    out_dir = tmp_path / "synthetic"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "make_synthetic.py"),
            str(out_dir),
            "--count",
            "2",
            "--seed",
            "3",
            "--min-size",
            "48",
            "--max-size",
            "96",
            "--max-people",
            "10",
            "--empty-fraction",
            "0.5",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    list_path = Path(result.stdout.strip())
    assert list_path == out_dir / "list.txt"
    pairs = _read_list(list_path)
    assert len(pairs) == 2
    assert all(image.is_file() and ann.is_file() for image, ann in pairs)


def test_cli_rejects_bad_sizes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_synthetic.py"), str(tmp_path / "x")]
        + ["--min-size", "100", "--max-size", "50"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "min_size" in result.stderr


def test_generator_loads_no_torch_and_no_other_p2pcount_module() -> None:
    code = (
        "import json, sys, p2pcount.data.synthetic\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] in ('torch', 'p2pcount')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    loaded = json.loads(result.stdout)
    assert not any(name.startswith("torch") for name in loaded)
    own = ("p2pcount", "p2pcount.data", "p2pcount.data.synthetic")
    assert all(name in own or name.startswith("p2pcount.data.synthetic.") for name in loaded)


# The classic style's output before the varied style was added (sha256 of the pixels and
# points of items 0-9 of seed 7, 64-160 px, up to 40 people, 20 % empty; and of a background).
CLASSIC_ITEMS_SHA256 = "6dd2d9008645bedc28094862b2409148f098980e318da94688056ce72aaf5ba8"
CLASSIC_BACKGROUND_SHA256 = "db7128b780adc565ff45bba520a654227b0593b0866423bcfa7537f278b01703"
VARIED_SMALL = {"min_size": 64, "max_size": 160, "max_people": 40}


def _items_sha256(empty_fraction: float = 0.2, **kwargs) -> str:
    digest = hashlib.sha256()
    for index in range(10):
        image, points = generate_item(
            7, index, empty_fraction=empty_fraction, **VARIED_SMALL, **kwargs
        )
        digest.update(np.asarray(image).tobytes())
        digest.update(points.tobytes())
    return digest.hexdigest()


def test_classic_style_is_unchanged() -> None:
    assert _items_sha256() == CLASSIC_ITEMS_SHA256
    assert _items_sha256(style=CLASSIC) == CLASSIC_ITEMS_SHA256
    background = generate_background(np.random.default_rng(5), 96, 80)
    assert hashlib.sha256(np.asarray(background).tobytes()).hexdigest() == (
        CLASSIC_BACKGROUND_SHA256
    )


def test_varied_style_is_reproducible_and_differs_from_classic() -> None:
    assert _items_sha256(style=varied()) == _items_sha256(style=varied())
    assert _items_sha256(style=varied()) != CLASSIC_ITEMS_SHA256
    assert _items_sha256(style=varied(["blob"])) != _items_sha256(style=varied())


def test_camera_noise_never_exceeds_the_scenes_contrast() -> None:
    # A flat picture has no contrast: casts and low light keep it flat, and the sensor noise
    # (σ 2-40 drawn one time in 2) is capped to nothing.
    flat = np.full((40, 50, 3), 120, np.float32)
    for seed in range(40):
        out = camera_effects(np.random.default_rng(seed), flat)
        assert out.shape == flat.shape and out.dtype == np.float32
        assert np.ptp(out.reshape(-1, 3), axis=0).max() < 1e-3
    # Stripes of std 3 grey levels: where noise is drawn, its σ is at most their std after
    # the colour cast (gains up to 1.3) and low light (which only lowers it): 3.9.
    stripes = np.zeros((64, 64, 3), np.float32) + 100
    stripes[:, ::2] += 6  # luminance std exactly 3
    noisy = 0
    for seed in range(40):
        out = camera_effects(np.random.default_rng(seed), stripes)
        residual = out[:, 1::2] - out[:, 1::2].mean(axis=(0, 1))  # one flat stripe set
        noisy += residual.std() > 0.5
        assert residual.std() <= 3 * 1.3 * 1.02
    assert noisy >= 10  # noise was drawn, and capped


def test_varied_points_are_inside_and_few_heads_are_hidden() -> None:
    for index in range(12):
        image, points = generate_item(4, index, empty_fraction=0.0, **SMALL, style=varied())
        width, height = image.size
        assert image.mode == "RGB" and points.dtype == np.float32
        assert np.all(points >= 0) and np.all(points[:, 0] < width)
        assert np.all(points[:, 1] < height)


@pytest.mark.parametrize("head", HEAD_STYLES)
def test_annotations_land_on_drawn_heads(head: str) -> None:
    rng = np.random.default_rng(0)
    crowd = sample_crowd(rng, 120, 90, 6)
    crowd, painter = restyle(rng, crowd, (head,))
    image = Image.new("RGB", (120, 90), (0, 0, 255))
    label_image = Image.new("I", (120, 90), 0)
    draw, label = ImageDraw.Draw(image), ImageDraw.Draw(label_image)
    for i in range(len(crowd.radius)):
        painter(draw, label, crowd, i)
        x, y = (int(v) for v in crowd.xy[i])
        assert np.asarray(label_image)[y, x] == i + 1  # the head's own silhouette
        assert image.getpixel((x, y)) != (0, 0, 255)  # painted


@pytest.mark.parametrize("wear", HEADWEAR)
@pytest.mark.parametrize("head", ["shaded", "blob"])
def test_headwear_keeps_the_annotation_on_the_head(head: str, wear: str) -> None:
    # Every pose (front, back, from above) in each headwear: the point stays on the head's
    # own silhouette and is painted; the headwear is in the person's accent colour.
    rng = np.random.default_rng(1)
    crowd, painter = restyle(rng, sample_crowd(rng, 200, 120, 12), (head,))
    n = len(crowd.radius)
    xy = np.array([[20.0 + 30 * (k % 6), 30.0 + 60 * (k // 6)] for k in range(n)])
    crowd = replace(crowd, xy=xy, radius=np.full(n, 9.0), pose=np.arange(n) % 3)
    painter = replace(painter, wear=np.full(n, HEADWEAR.index(wear)))
    image = Image.new("RGB", (200, 120), (0, 0, 255))
    label_image = Image.new("I", (200, 120), 0)
    draw, label = ImageDraw.Draw(image), ImageDraw.Draw(label_image)
    for i in range(n):
        painter(draw, label, crowd, i)
        x, y = (int(v) for v in crowd.xy[i])
        assert np.asarray(label_image)[y, x] == i + 1
        assert image.getpixel((x, y)) != (0, 0, 255)
        crown = image.getpixel((x, int(y - 0.6 * crowd.radius[i])))
        accent = painter.accent[i]
        hood = {tuple(int(min(255, c * (0.65 + 0.22 * k))) for c in accent) for k in range(4)}
        if wear in ("cap", "beanie"):
            assert crown == accent
        elif wear == "hood":
            assert crown in hood  # a shade of the accent colour
        else:
            assert crown != accent and crown not in hood


def test_headwear_is_worn_by_shaded_and_blob_heads_only() -> None:
    # 3 people in 10 of the shaded and blob styles wear a hood, a cap or a beanie, each as
    # often; scenes of other styles alone draw no headwear (that they draw nothing more from
    # the generator is checked by their sha256 below).
    rng = np.random.default_rng(4)
    wear = np.concatenate(
        [
            restyle(rng, sample_crowd(rng, 200, 150, 100), ("shaded", "blob"))[1].wear
            for _ in range(30)
        ]
    )
    assert 0.26 < (wear > 0).mean() < 0.34
    counts = np.bincount(wear, minlength=len(HEADWEAR))[1:]
    assert counts.min() > 0.8 * counts.mean()
    for heads in [("classic",), ("helmet",), ("classic", "helmet")]:
        _, painter = restyle(rng, sample_crowd(rng, 200, 150, 50), heads)
        assert not painter.wear.any()


# Scenes drawn before headwear existed (sha256 as in _items_sha256, seed 7): person-free
# scenes of every family; crowds of helmets alone, and of classic and helmet heads. The
# person-free training and evaluation sets (seeds 33, 42, 46, 50) and the held-out seed 32
# are still what the generator draws.
VARIED_EMPTY_SHA256 = "3aa1e076af50ed53180e4c8212c893d38dd14d2b39361ec9896e78764ba44953"
HELMETS_SHA256 = "4a484b55267ba0a0d73baed670344daf5fc749ee8feaef9c67dd22c45b2103dd"
CLASSIC_AND_HELMETS_SHA256 = "d236dcb3b8c92e588f56666e331d6a9f7a35c8a7c77c0201a82f07b9f76a7630"


def test_person_free_and_unworn_styles_are_drawn_as_before_headwear() -> None:
    assert _items_sha256(empty_fraction=1.0, style=varied()) == VARIED_EMPTY_SHA256
    assert _items_sha256(style=varied(["classic", "shaded", "blob"])) == HELMETS_SHA256
    assert _items_sha256(style=varied(["shaded", "blob"])) == CLASSIC_AND_HELMETS_SHA256


def test_dyed_hair_takes_any_colour() -> None:
    # 1 person in 4 has hair of any hue, saturation (pastels, greys) and value 0.1-1: bright
    # colours (a channel above 235) appear, which the natural hair table (up to 220 plus a
    # jitter of σ 6) all but never reaches; every colour stays in 0..255.
    rng = np.random.default_rng(3)
    hair = []
    for _ in range(40):
        crowd, _ = restyle(rng, sample_crowd(rng, 200, 150, 100), HEAD_STYLES)
        hair += crowd.hair
    rgb = np.array(hair, np.float64)
    assert rgb.shape == (4000, 3) and rgb.min() >= 0 and rgb.max() <= 255
    bright = (rgb.max(axis=1) > 235).mean()
    assert 0.01 < bright < 0.04
    pastel = (np.ptp(rgb, axis=1) / np.maximum(rgb.max(axis=1), 1) < 0.3) & (rgb.max(axis=1) > 235)
    assert pastel.sum() >= 10  # light, weakly saturated colours of every kind


def test_held_out_families_are_never_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    from p2pcount.data.synthetic import varied_scene as varied_module

    families, heads = set(), set()
    draw_background, draw_restyle = varied_module.varied_background, varied_module.restyle

    def background(rng, width, height, scale, family):
        families.add(family)
        return draw_background(rng, width, height, scale, family)

    def restyled(rng, crowd, names):
        crowd, painter = draw_restyle(rng, crowd, names)
        heads.update(painter.heads[s] for s in painter.styles)
        return crowd, painter

    monkeypatch.setattr(varied_module, "varied_background", background)
    monkeypatch.setattr(varied_module, "restyle", restyled)
    style = varied(["blob", "fractal", "noise"])
    for index in range(30):
        generate_item(2, index, min_size=48, max_size=64, max_people=20, style=style)
    assert families == {"textured", "gradient", "clutter"}
    assert heads == {"classic", "shaded", "helmet"}


def test_hold_out_rejects_unknown_names_and_everything() -> None:
    with pytest.raises(ValueError, match="unknown family hats"):
        varied(["hats"])
    with pytest.raises(ValueError, match="no head style"):
        varied(HEAD_STYLES)
    assert varied(["clutter"]).backgrounds == ("textured", "noise", "gradient", "fractal")


def test_varied_person_free_scenes_take_every_kind() -> None:
    assert tuple(VARIED_EMPTY_KINDS) == ("blank", "textured", "noisy", "cluttered")
    for index in range(4):
        image, points = generate_item(3, index, empty_fraction=1.0, **SMALL, style=varied())
        assert len(points) == 0
        if index == 0:  # blank first: a flat colour with a slight gradient
            assert np.ptp(np.asarray(image, np.float32), axis=(0, 1)).max() <= 0.16 * 255 + 1
    # Without the noise family there are no noisy scenes: blank, textured, cluttered.
    no_noise = varied(["noise"])
    kinds = [generate_item(3, i, empty_fraction=1.0, **SMALL, style=no_noise) for i in range(3)]
    assert all(len(points) == 0 for _, points in kinds)


def test_cli_varied_with_hold_out(tmp_path: Path) -> None:
    script = str(REPO_ROOT / "scripts" / "make_synthetic.py")
    args = [sys.executable, script, str(tmp_path / "v"), "--count", "2", "--max-size", "96"]
    args += ["--min-size", "48", "--style", "varied", "--hold-out", "blob,noise"]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert len(_read_list(Path(result.stdout.strip()))) == 2
    bad = subprocess.run(
        [sys.executable, script, str(tmp_path / "b"), "--hold-out", "blob"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "--hold-out needs --style varied" in bad.stderr
