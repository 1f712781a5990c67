"""Tests of p2pcount.data.datasets on tiny datasets built in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from p2pcount.data.datasets import FORMATS, Sample, detect_format, load_dataset, summarize
from p2pcount.errors import ConfigError, DatasetError

WIDTH, HEIGHT = 16, 12
POINTS = [[1.5, 2.0], [10.0, 11.0]]


# --- fixture builders ------------------------------------------------------------------------


def write_image(path: Path, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """A tiny RGB image at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (40, 80, 120)).save(path)
    return path


def write_xy(path: Path, points: list[list[float]], extra: str = "") -> Path:
    """An ``x y`` text annotation with ``points``, then the raw text ``extra``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x} {y}\n" for x, y in points) + extra)
    return path


def write_mat(path: Path, points: list[list[float]]) -> Path:
    """A ShanghaiTech ``GT_*.mat``: a 1x1 cell holding a 1x1 struct with location, number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    location = np.array(points, dtype=np.float64).reshape(-1, 2)
    struct = np.array(
        [[(location, np.array([[len(location)]]))]],
        dtype=[("location", "O"), ("number", "O")],
    )
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = struct
    scipy.io.savemat(path, {"image_info": cell})
    return path


def make_shanghaitech(root: Path, counts: dict[str, list[list[float]]], gt: str = "ground-truth"):
    for stem, points in counts.items():
        write_image(root / "images" / f"{stem}.jpg")
        write_mat(root / gt / f"GT_{stem}.mat", points)
    return root


def make_nwpu(root: Path, counts: dict[str, list[list[float]]]) -> Path:
    for stem, points in counts.items():
        write_image(root / "images" / f"{stem}.jpg")
        (root / "jsons").mkdir(parents=True, exist_ok=True)
        content = {"img_id": f"{stem}.jpg", "human_num": len(points), "points": points}
        (root / "jsons" / f"{stem}.json").write_text(json.dumps(content))
    return root


def make_jhu(root: Path, counts: dict[str, list[list[float]]]) -> Path:
    for stem, points in counts.items():
        write_image(root / "images" / f"{stem}.jpg")
        rows = [[x, y, 4, 5, 0, 0] for x, y in points]
        (root / "gt").mkdir(parents=True, exist_ok=True)
        (root / "gt" / f"{stem}.txt").write_text(
            "".join(" ".join(map(str, r)) + "\n" for r in rows)
        )
    return root


def make_folder(root: Path, counts: dict[str, list[list[float]]], suffix: str = ".png") -> Path:
    for stem, points in counts.items():
        write_image(root / f"{stem}{suffix}")
        write_xy(root / f"{stem}.txt", points)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
    }


def names(samples: list[Sample]) -> list[str]:
    return [sample.image.name for sample in samples]


# --- each format -----------------------------------------------------------------------------


def test_mat_fixture_has_the_documented_nesting(tmp_path: Path) -> None:
    """The fixture's GT_*.mat holds its points where the real files do (``image_info[0,0]
    [0,0][0]``, per the issue), so that the ShanghaiTech tests below read that nesting."""
    mat = write_mat(tmp_path / "GT_IMG_1.mat", POINTS)
    loaded = scipy.io.loadmat(mat)
    np.testing.assert_array_equal(loaded["image_info"][0, 0][0, 0][0], POINTS)
    assert loaded["image_info"][0, 0][0, 0][1][0, 0] == len(POINTS)


@pytest.mark.parametrize("gt", ["ground-truth", "ground_truth"])
def test_shanghaitech(tmp_path: Path, gt: str) -> None:
    root = make_shanghaitech(tmp_path / "part_A" / "test_data", {"IMG_1": POINTS}, gt=gt)
    assert detect_format(root) == "shanghaitech"
    [sample] = load_dataset(root)
    assert sample.image == root / "images" / "IMG_1.jpg"
    assert sample.points.dtype == np.float32
    np.testing.assert_array_equal(sample.points, POINTS)


def test_nwpu(tmp_path: Path) -> None:
    root = make_nwpu(tmp_path / "nwpu", {"0001": POINTS, "0002": []})
    assert detect_format(root) == "nwpu"
    first, second = load_dataset(root)
    np.testing.assert_array_equal(first.points, POINTS)
    assert second.points.shape == (0, 2)
    assert second.points.dtype == np.float32


def test_jhu_uses_the_first_two_columns(tmp_path: Path) -> None:
    root = make_jhu(tmp_path / "jhu" / "train", {"0001": POINTS})
    (root / "gt" / "0002.txt").write_text("")
    write_image(root / "images" / "0002.jpg")
    assert detect_format(root) == "jhu"
    first, second = load_dataset(root)
    np.testing.assert_array_equal(first.points, POINTS)
    assert second.points.shape == (0, 2)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"])
def test_folder(tmp_path: Path, suffix: str) -> None:
    root = make_folder(tmp_path / "crowd", {"a": POINTS}, suffix=suffix)
    assert detect_format(root) == "folder"
    [sample] = load_dataset(root)
    assert sample.image == root / f"a{suffix}"
    np.testing.assert_array_equal(sample.points, POINTS)


def test_folder_image_without_sidecar_is_an_error(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "crowd", {"a": POINTS})
    write_image(root / "b.png")
    with pytest.raises(DatasetError, match=r"b\.png.*b\.txt"):
        load_dataset(root)


def test_list_relative_and_absolute_paths_in_file_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_image(data / "img" / "z.jpg")
    write_xy(data / "ann" / "z.txt", POINTS)
    absolute_image = write_image(tmp_path / "elsewhere" / "a.png")
    absolute_ann = write_xy(tmp_path / "elsewhere" / "a.txt", [[3, 4]])
    list_file = data / "train.list"
    list_file.write_text(f"img/z.jpg   ann/z.txt\n{absolute_image}\t{absolute_ann}\n")
    assert detect_format(list_file) == "list"
    first, second = load_dataset(list_file)
    assert first.image == data / "img" / "z.jpg"
    np.testing.assert_array_equal(first.points, POINTS)
    assert second.image == absolute_image
    np.testing.assert_array_equal(second.points, [[3, 4]])


def test_list_comments_blank_lines_and_extra_columns(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_xy(tmp_path / "a.ann", [], extra="# x y\n\n1 2 7 8  # head\n   \n3.5\t4.5\n")
    list_file = tmp_path / "val.txt"
    list_file.write_text("# image annotation\n\na.jpg a.ann\n\n")
    assert detect_format(list_file) == "list"
    [sample] = load_dataset(list_file)
    np.testing.assert_array_equal(sample.points, [[1, 2], [3.5, 4.5]])


def test_list_paths_with_hash_and_spaces(tmp_path: Path) -> None:
    write_image(tmp_path / "img#1.jpg")
    write_xy(tmp_path / "img#1.txt", [[1, 2]])
    write_image(tmp_path / "my crowd" / "a b.jpg")
    write_xy(tmp_path / "my crowd" / "a b.txt", [[3, 4]])
    write_image(tmp_path / "c d.jpg")
    write_xy(tmp_path / "c d.txt", [[5, 6]])
    list_file = tmp_path / "train.list"
    list_file.write_text(
        "  # a comment\n"
        "img#1.jpg img#1.txt\n"
        "my crowd/a b.jpg\tmy crowd/a b.txt\n"  # a tab separates paths with spaces
        "c d.jpg  c d.txt\n"  # no tab: the one cut that names two existing files
    )
    samples = load_dataset(list_file)
    assert [s.image for s in samples] == [
        tmp_path / "img#1.jpg",
        tmp_path / "my crowd" / "a b.jpg",
        tmp_path / "c d.jpg",
    ]
    np.testing.assert_array_equal([s.points[0] for s in samples], [[1, 2], [3, 4], [5, 6]])


def test_list_line_with_ambiguous_spaces_asks_for_a_tab(tmp_path: Path) -> None:
    # Both "a" + "b c.txt" and "a b" + "c.txt" name existing files: no guessing.
    for name in ("a", "a b", "b c.txt", "c.txt"):
        (tmp_path / name).write_text("")
    list_file = tmp_path / "list.txt"
    list_file.write_text("a b c.txt\n")
    with pytest.raises(DatasetError, match=r"list\.txt: line 1: .*by a tab\), got 'a b c\.txt'"):
        load_dataset(list_file)


@pytest.mark.parametrize("line", ["1,2", "1, 2", "1;2", "1 ,\t2", "1,2,7,8"])
def test_annotation_separators(tmp_path: Path, line: str) -> None:
    write_image(tmp_path / "a.jpg")
    write_xy(tmp_path / "a.txt", [], extra=f"{line}\n3 4\n")
    [sample] = load_dataset(tmp_path)
    np.testing.assert_array_equal(sample.points, [[1, 2], [3, 4]])


def test_empty_annotation_is_valid(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_xy(tmp_path / "a.txt", [], extra="\n# nobody here\n")
    [sample] = load_dataset(tmp_path)
    assert sample.points.shape == (0, 2)
    assert sample.points.dtype == np.float32


def test_explicit_format_skips_detection(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "crowd", {"a": POINTS})
    list_file = tmp_path / "weird.name"
    list_file.write_text("crowd/a.png crowd/a.txt\n")
    [sample] = load_dataset(list_file, "list")
    np.testing.assert_array_equal(sample.points, POINTS)
    assert len(load_dataset(root, "folder")) == 1


def test_explicit_format_must_fit_the_layout(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "crowd", {"a": POINTS})
    with pytest.raises(DatasetError, match=r"jsons: directory not found"):
        load_dataset(root, "nwpu")


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset format"):
        load_dataset(tmp_path, "coco")
    assert "folder" in FORMATS


# --- order -----------------------------------------------------------------------------------


def test_natural_sort_order(tmp_path: Path) -> None:
    stems = ["IMG_10", "IMG_2", "IMG_1", "img_3", "IMG_100"]
    root = make_shanghaitech(tmp_path / "sht", {stem: POINTS for stem in stems})
    expected = ["IMG_1.jpg", "IMG_2.jpg", "img_3.jpg", "IMG_10.jpg", "IMG_100.jpg"]
    assert names(load_dataset(root)) == expected
    folder = make_folder(tmp_path / "folder", {stem: POINTS for stem in stems})
    assert names(load_dataset(folder)) == [name.replace(".jpg", ".png") for name in expected]


def test_hidden_and_non_image_files_are_not_samples(tmp_path: Path) -> None:
    root = make_nwpu(tmp_path / "nwpu", {"1": POINTS})
    (root / "images" / ".DS_Store").write_bytes(b"\0")
    (root / "images" / "._1.jpg").write_bytes(b"\0")
    (root / "images" / "notes.md").write_text("hi")
    assert names(load_dataset(root)) == ["1.jpg"]


# --- points outside the image ----------------------------------------------------------------


def test_points_outside_the_image_are_dropped_with_a_warning(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    ann = write_xy(tmp_path / "a.txt", [[1, 1], [WIDTH + 5, 1], [1, -3], [2, 2]])
    messages: list[str] = []
    [sample] = load_dataset(tmp_path, on_warning=messages.append)
    np.testing.assert_array_equal(sample.points, [[1, 1], [2, 2]])
    assert messages == [f"{ann}: dropped 2 of 4 points outside the {WIDTH}x{HEIGHT} image"]


def test_dropped_points_warn_by_default(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_xy(tmp_path / "a.txt", [[1, 1], [100, 100]])
    with pytest.warns(UserWarning, match=r"a\.txt: dropped 1 of 2 points outside the 16x12 image"):
        [sample] = load_dataset(tmp_path)
    assert len(sample.points) == 1


def test_points_within_one_pixel_of_the_border_are_clamped(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    border = [[WIDTH, HEIGHT], [-0.5, 3], [WIDTH + 1, -1], [WIDTH - 1e-9, 0]]
    write_xy(tmp_path / "a.txt", border)
    messages: list[str] = []
    [sample] = load_dataset(tmp_path, on_warning=messages.append)
    assert messages == []
    assert sample.points.shape == (4, 2)
    assert (sample.points >= 0).all()
    assert (sample.points[:, 0] < WIDTH).all() and (sample.points[:, 1] < HEIGHT).all()
    np.testing.assert_allclose(sample.points, [[16, 12], [0, 3], [16, 0], [16, 0]], atol=1e-5)


def test_image_size_ignores_exif_rotation(tmp_path: Path) -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to display
    image.save(tmp_path / "a.jpg", exif=exif)
    write_xy(tmp_path / "a.txt", [[WIDTH - 2, HEIGHT - 2]])
    messages: list[str] = []
    [sample] = load_dataset(tmp_path, on_warning=messages.append)
    assert messages == []
    np.testing.assert_array_equal(sample.points, [[WIDTH - 2, HEIGHT - 2]])


# --- errors ----------------------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo[DatasetError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_annotation(tmp_path: Path) -> None:
    root = make_jhu(tmp_path / "jhu", {"1": POINTS, "2": POINTS})
    (root / "gt" / "2.txt").unlink()
    with pytest.raises(DatasetError) as error:
        load_dataset(root)
    assert one_line(error).startswith(f"{root / 'gt' / '2.txt'}: ")


def test_missing_shanghaitech_annotation(tmp_path: Path) -> None:
    root = make_shanghaitech(tmp_path / "sht", {"IMG_1": POINTS})
    write_image(root / "images" / "IMG_2.jpg")
    with pytest.raises(DatasetError, match=r"GT_IMG_2\.mat: annotation file not found"):
        load_dataset(root)


def test_missing_image(tmp_path: Path) -> None:
    write_xy(tmp_path / "a.txt", POINTS)
    list_file = tmp_path / "list.txt"
    list_file.write_text("gone.jpg a.txt\n")
    with pytest.raises(DatasetError) as error:
        load_dataset(list_file)
    assert one_line(error) == f"{tmp_path / 'gone.jpg'}: image not found"


def test_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    write_xy(tmp_path / "a.txt", POINTS)
    with pytest.raises(DatasetError, match=r"a\.jpg: not a readable image"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1 2\n3\n", "line 2: expected 'x y'"),
        ("1 2\n\n# c\nx y\n", "line 4: expected 'x y'"),
        ("1 2\n1 nan\n", "line 2: non-finite point"),
        ("inf 2\n", "line 1: non-finite point"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, text: str, reason: str) -> None:
    write_image(tmp_path / "a.jpg")
    ann = tmp_path / "a.txt"
    ann.write_text(text)
    with pytest.raises(DatasetError) as error:
        load_dataset(tmp_path)
    assert one_line(error).startswith(f"{ann}: {reason}")


def test_bad_list_line(tmp_path: Path) -> None:
    list_file = tmp_path / "list.txt"
    list_file.write_text("a.jpg a.txt extra\n")
    with pytest.raises(DatasetError, match=r"list\.txt: line 1: expected 'image_path"):
        load_dataset(list_file)


def test_non_finite_json_point(tmp_path: Path) -> None:
    root = make_nwpu(tmp_path / "nwpu", {"1": [[1, 2], [float("nan"), 3]]})
    with pytest.raises(DatasetError, match=r"1\.json: point 1 is not finite"):
        load_dataset(root)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{", "not a readable JSON file"),
        ('{"boxes": []}', 'no "points" key'),
        ('{"points": [[1]]}', "expected"),
    ],
)
def test_malformed_json(tmp_path: Path, content: str, reason: str) -> None:
    root = make_nwpu(tmp_path / "nwpu", {"1": POINTS})
    (root / "jsons" / "1.json").write_text(content)
    with pytest.raises(DatasetError, match=reason) as error:
        load_dataset(root)
    assert one_line(error).startswith(f"{root / 'jsons' / '1.json'}: ")


def test_malformed_mat(tmp_path: Path) -> None:
    root = make_shanghaitech(tmp_path / "sht", {"IMG_1": POINTS})
    scipy.io.savemat(root / "ground-truth" / "GT_IMG_1.mat", {"other": np.zeros(3)})
    with pytest.raises(DatasetError, match="not a ShanghaiTech annotation"):
        load_dataset(root)
    (root / "ground-truth" / "GT_IMG_1.mat").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"GT_IMG_1\.mat: not a readable \.mat file"):
        load_dataset(root)


def test_empty_dataset(tmp_path: Path) -> None:
    list_file = tmp_path / "list.txt"
    list_file.write_text("# nothing\n\n")
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(list_file)
    root = tmp_path / "nwpu"
    (root / "images").mkdir(parents=True)
    (root / "jsons").mkdir()
    assert detect_format(root) == "nwpu"
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(root)


def test_undetectable_directory(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")  # an image, but no sidecar
    with pytest.raises(DatasetError) as error:
        detect_format(tmp_path)
    assert one_line(error).startswith(f"{tmp_path}: cannot detect the dataset format: expected")
    with pytest.raises(DatasetError, match="cannot detect"):
        load_dataset(tmp_path)


def test_a_folder_holding_a_list_file_names_it(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg")
    write_xy(tmp_path / "annotations" / "a.txt", POINTS)
    (tmp_path / "list.txt").write_text("images/a.jpg annotations/a.txt\n")
    with pytest.raises(DatasetError) as error:
        load_dataset(tmp_path)
    assert one_line(error) == (
        f"{tmp_path}: cannot detect the dataset format; if list.txt is a list file, pass that "
        "file instead of the folder"
    )
    assert len(load_dataset(tmp_path / "list.txt")) == 1


def test_undetectable_file_and_missing_path(tmp_path: Path) -> None:
    other = tmp_path / "data.csv"
    other.write_text("a,b\n")
    with pytest.raises(DatasetError, match="cannot detect"):
        detect_format(other)
    with pytest.raises(DatasetError, match="no such file or directory"):
        detect_format(tmp_path / "missing")


# --- read-only -------------------------------------------------------------------------------


def test_loading_does_not_touch_the_dataset(tmp_path: Path) -> None:
    sht = make_shanghaitech(tmp_path / "sht", {"IMG_1": POINTS, "IMG_2": [[100, 100]]})
    nwpu = make_nwpu(tmp_path / "nwpu", {"1": POINTS})
    jhu = make_jhu(tmp_path / "jhu", {"1": POINTS})
    folder = make_folder(tmp_path / "folder", {"1": POINTS})
    list_file = tmp_path / "list.txt"
    list_file.write_text("folder/1.png folder/1.txt\n")
    before = snapshot(tmp_path)
    for path in (sht, nwpu, jhu, folder, list_file):
        load_dataset(path, on_warning=lambda message: None)
    assert snapshot(tmp_path) == before


# --- summary ---------------------------------------------------------------------------------


def test_summarize(tmp_path: Path) -> None:
    root = make_folder(tmp_path, {"a": POINTS, "b": [], "c": [[1, 1]] * 3})
    assert summarize(load_dataset(root)) == {
        "images": 3,
        "points": 5,
        "mean_count": 5 / 3,
        "min_count": 0,
        "max_count": 3,
    }
    assert summarize([])["images"] == 0
