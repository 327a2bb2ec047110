"""Tests for transfer_keras.data: image folders, Fashion-MNIST, class splits, prepare, export."""

import dataclasses
import gzip
import itertools
import json
import os
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import transfer_keras as tk
import tensorflow as tf
from PIL import Image

from transfer_keras import data
from transfer_keras.data import (
    DataWarning,
    FashionMNISTUnavailableError,
    dataset_to_arrays,
    export_image_folder,
    load_fashion_mnist,
    load_image,
    load_image_folder,
    prepare,
    sample_per_class,
    split_classes,
)

RED, BLUE = (220, 20, 20), (20, 20, 220)
_shades = itertools.count()

# A DataWarning nobody expected fails the test; expected ones are caught with pytest.warns.
pytestmark = pytest.mark.filterwarnings("error::transfer_keras.data.DataWarning")


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """Tests never touch the network: Keras's Fashion-MNIST download always fails."""

    def offline():
        raise RuntimeError("network disabled in tests")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)


# ----------------------------------------------------------------------------
# Helpers that build small image folders.


def _save(path, mode="RGB", size=(24, 16), color=RED, fmt=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, fmt, **kwargs)
    return path


def _noise_jpeg(path, seed=0, size=(64, 48)):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return path


def _two_class_folder(root, per_class=3):
    """root/cats/*.png (reddish) and root/dogs/*.png (bluish), every image different."""
    for i in range(per_class):
        shade = next(_shades)
        _save(root / "cats" / f"{i}.png", color=(220, shade, 0))
        _save(root / "dogs" / f"{i}.png", color=(0, shade, 220))
    return root


def _snapshot(root):
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


# ----------------------------------------------------------------------------
# load_image_folder: what is loaded, what is skipped, and the folder is untouched.


def test_loads_every_kind_of_image_and_reports_the_rest(tmp_path):
    root = tmp_path / "photos"
    cats = root / "cats"
    _save(cats / "good.jpg", fmt="JPEG")
    _save(cats / "gray.png", mode="L", color=128)
    _save(cats / "rgba.png", mode="RGBA", color=(0, 0, 0, 0))  # fully transparent
    _save(cats / "cmyk.jpg", mode="CMYK", color=(0, 255, 255, 0), fmt="JPEG")  # red
    _save(cats / "palette.png", mode="P", color=3)
    _save(cats / "anim.gif", mode="P", color=1)
    _save(cats / "bitmap.bmp")
    _save(cats / "café photo ñ.jpg", fmt="JPEG")
    _save(cats / "nested" / "deeper.png")
    _save(cats / ".hidden_folder" / "secret.png")
    (cats / ".DS_Store").write_bytes(b"\x00\x01")
    (cats / "notes.jpg").write_text("this is not an image")
    truncated = _noise_jpeg(tmp_path / "full.jpg").read_bytes()
    (cats / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    for i in range(2):
        _save(root / "dogs" / f"{i}.webp", color=BLUE, fmt="WEBP")
    before = _snapshot(root)

    train_ds, val_ds, class_names, report = load_image_folder(root, (20, 30), batch_size=4)

    assert _snapshot(root) == before  # nothing moved, written or deleted
    assert class_names == ["cats", "dogs"] and val_ds is None
    assert report.counts == {"train": {"cats": 9, "dogs": 2}}
    assert report.num_images == 11
    loaded = {p.name for p in report.train_paths}
    assert {"café photo ñ.jpg", "deeper.png", "anim.gif", "cmyk.jpg", "bitmap.bmp"} <= loaded
    reasons = {p.name: reason for p, reason in report.skipped}
    assert set(reasons) == {".hidden_folder", ".DS_Store", "notes.jpg", "truncated.jpg"}
    assert "hidden folder" in reasons[".hidden_folder"]
    assert "hidden file" in reasons[".DS_Store"]
    assert "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.jpg"]

    images, labels, _, _ = report.arrays()
    assert images.shape == (11, 20, 30, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and labels.tolist() == [0] * 9 + [1] * 2
    pixel = {p.name: images[i, 10, 15] for i, p in enumerate(report.train_paths)}
    np.testing.assert_array_equal(pixel["rgba.png"], [255, 255, 255])  # transparent -> white
    np.testing.assert_array_equal(pixel["gray.png"], [128, 128, 128])
    assert pixel["cmyk.jpg"][0] > 200 and pixel["cmyk.jpg"][1:].max() < 50

    batch_images, batch_labels = next(iter(train_ds))
    assert batch_images.shape == (4, 20, 30, 3) and batch_images.dtype == tf.float32
    assert batch_labels.dtype == tf.int32
    assert 0 <= float(tf.reduce_min(batch_images)) and float(tf.reduce_max(batch_images)) <= 255


@pytest.mark.parametrize("values, mode, expected", [
    ([0.0, 0.25, 0.5, 1.0], "F", [0, 63, 127, 255]),            # fractions of white
    ([0, 64, 128, 255], "I", [0, 64, 128, 255]),                # 8-bit values
    ([0, 257, 25700, 65535], "I", [0, 1, 100, 255]),            # 16-bit values
    ([0.0, 1000.0, 2e6, 4e6], "F", [0, 0, 127, 255]),           # beyond: the top is white
    ([-5.0, float("nan"), 0.5, 1.0], "F", [0, 0, 127, 255]),    # negative and NaN: black
])
def test_32_bit_grayscale_tiffs_keep_their_range(tmp_path, values, mode, expected):
    # Modes "I" and "F" have no fixed range: they used to come out black.
    dtype = np.float32 if mode == "F" else np.int32
    path = tmp_path / "gray.tiff"
    Image.fromarray(np.array([values], dtype=dtype), mode).save(path)
    pixels = load_image(path, (1, 4))
    np.testing.assert_array_equal(pixels[0, :, 0], expected)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])  # gray -> RGB


def test_load_image_expands_the_home_folder_and_says_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _save(tmp_path / "photo.png", size=(6, 4))
    assert load_image("~/photo.png", 8).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="`path` .*missing.png' does not exist"):
        load_image("~/missing.png", 8)
    with pytest.raises(ValueError, match="is a folder, not a file.*load_image_folder"):
        load_image(tmp_path, 8)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20], pixels[:, 20:] = RED, BLUE  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "rotated.jpg", exif=exif)
    _save(tmp_path / "b" / "plain.png")
    images = load_image_folder(tmp_path, (40, 20)).report.train_images
    assert images[0, 5, 10, 0] > 180 and images[0, 35, 10, 2] > 180  # red on top, blue below


def test_report_renders_and_converts_to_plain_data(tmp_path):
    root = _two_class_folder(tmp_path / "photos")
    (root / "cats" / "broken.png").write_bytes(b"PNG? no")
    report = load_image_folder(root, 8).report
    text = str(report)
    assert "cats" in text and "dogs" in text and "broken.png" in text
    assert "<table>" in report._repr_html_()
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["counts"] == {"train": {"cats": 3, "dogs": 3}}
    assert as_dict["skipped"][0]["reason"].startswith("not an image")


def test_split_folders_with_every_held_out_name(tmp_path):
    for held_out in ("val", "valid", "validation"):
        root = tmp_path / held_out
        _two_class_folder(root / "train", per_class=2)
        _two_class_folder(root / held_out, per_class=1)
        result = load_image_folder(root, 8, batch_size=2)
        assert result.report.layout == "split folders"
        assert result.report.counts["val"] == {"cats": 1, "dogs": 1}
        _, _, val_images, val_labels = result.arrays()
        assert val_images.shape == (2, 8, 8, 3) and val_labels.tolist() == [0, 1]
        assert dataset_to_arrays(result.val_ds)[1].tolist() == [0, 1]


def test_train_and_test_folders_alone_keep_test_out_of_validation(tmp_path):
    # The common layout of downloaded datasets. test/ used to become the validation
    # part, silently: early stopping watched the test photos and no test score remained.
    _two_class_folder(tmp_path / "train", per_class=4)
    _two_class_folder(tmp_path / "test", per_class=2)
    assert data.folder_layout(tmp_path) == "train and test folders"
    alone = load_image_folder(tmp_path, 8, batch_size=2)
    assert alone.report.layout == "train and test folders"
    assert alone.val_ds is None and list(alone.report.counts) == ["train", "test"]
    assert alone.report.counts["test"] == {"cats": 2, "dogs": 2}
    assert dataset_to_arrays(alone.test_ds)[1].tolist() == [0, 0, 1, 1]

    held = load_image_folder(tmp_path, 8, batch_size=2, validation_split=0.25)
    assert list(held.report.counts) == ["train", "val", "test"]  # the report's column order
    assert held.report.counts["train"] == {"cats": 3, "dogs": 3}
    assert held.report.counts["val"] == {"cats": 1, "dogs": 1}
    assert all(path.parent.parent.name == "train" for path in held.report.val_paths)
    assert sorted(p.parent.parent.name for p in held.report.test_paths) == ["test"] * 4
    assert dataset_to_arrays(held.val_ds)[1].tolist() == [0, 1]
    assert "(train and test folders)" in str(held.report)


def test_test_folder_next_to_val_is_the_test_part(tmp_path):
    for split, per_class in (("train", 3), ("val", 2), ("test", 1)):
        _two_class_folder(tmp_path / split, per_class=per_class)
    (tmp_path / "valid").mkdir()  # a second validation folder is reported, not loaded
    data = load_image_folder(tmp_path, 8)
    report = data.report
    assert report.counts == {"train": {"cats": 3, "dogs": 3}, "val": {"cats": 2, "dogs": 2},
                             "test": {"cats": 1, "dogs": 1}}
    assert dataset_to_arrays(data.test_ds)[1].tolist() == [0, 1]
    assert report.test_images.shape == (2, 8, 8, 3)
    assert [p.name for p in report.test_paths] == ["0.png", "0.png"]
    assert [(p.name, "held-out folder not loaded" in r) for p, r in report.skipped] == [
        ("valid", True)]
    train_ds, val_ds, class_names, _ = data  # unpacks as before; test_ds is an attribute
    assert class_names == ["cats", "dogs"]


def test_without_a_test_folder_test_ds_is_none(tmp_path):
    _two_class_folder(tmp_path / "train", per_class=2)
    _two_class_folder(tmp_path / "val", per_class=1)  # (test/ alone: see the test above)
    data = load_image_folder(tmp_path, 8)
    assert data.test_ds is None and data.report.counts["val"] == {"cats": 1, "dogs": 1}


def test_validation_split_is_stratified_reproducible_and_disjoint(tmp_path):
    root = tmp_path / "photos"
    for i in range(10):
        _save(root / "cats" / f"{i}.png", color=(i, 0, 0))
    for i in range(5):
        _save(root / "dogs" / f"{i}.png", color=(0, 0, 100 + i))
    first = load_image_folder(root, 8, validation_split=0.2, seed=1).report
    again = load_image_folder(root, 8, validation_split=0.2, seed=1).report
    other = load_image_folder(root, 8, validation_split=0.2, seed=2).report
    assert first.counts == {"train": {"cats": 8, "dogs": 4}, "val": {"cats": 2, "dogs": 1}}
    assert first.val_paths == again.val_paths and first.train_paths == again.train_paths
    assert first.val_paths != other.val_paths
    assert not set(first.train_paths) & set(first.val_paths)
    assert len(set(first.train_paths) | set(first.val_paths)) == 15


def test_training_set_is_reshuffled_each_epoch_with_the_seed(tmp_path):
    root = tmp_path / "photos"
    for i in range(8):
        _save(root / "cats" / f"{i}.png", color=(10 * i + 5, 0, 0))
        _save(root / "dogs" / f"{i}.png", color=(0, 0, 10 * i + 5))

    def epochs(seed, shuffle=True):
        """The order of images in two epochs, as red minus blue of each image."""
        ds = load_image_folder(root, 4, batch_size=16, seed=seed, shuffle=shuffle).train_ds
        return [(lambda x: (x[:, 0, 0, 0] - x[:, 0, 0, 2]).tolist())(dataset_to_arrays(ds)[0])
                for _ in range(2)]

    first_epoch, second_epoch = epochs(seed=3)
    assert first_epoch != second_epoch
    assert epochs(seed=3) == [first_epoch, second_epoch]
    file_order = [10 * i + 5 for i in range(8)] + [-10 * i - 5 for i in range(8)]
    assert epochs(seed=3, shuffle=False) == [file_order, file_order]


def test_duplicates_across_splits_and_classes_warn(tmp_path):
    _two_class_folder(tmp_path / "train", per_class=2)
    _two_class_folder(tmp_path / "val", per_class=1)
    copy = _noise_jpeg(tmp_path / "train" / "cats" / "x.jpg").read_bytes()
    (tmp_path / "val" / "cats" / "x_again.jpg").write_bytes(copy)  # leakage
    (tmp_path / "train" / "dogs" / "x_as_dog.jpg").write_bytes(copy)  # label noise
    with pytest.warns(DataWarning) as caught:
        report = load_image_folder(tmp_path, 8).report
    messages = " ".join(str(w.message) for w in caught)
    assert "leakage" in messages and "label noise" in messages
    assert report.num_images == 9  # every copy kept
    # Every image of a class has the same colour, so those are duplicate groups too.
    leaking = [g for g in report.duplicates if "x.jpg" in {r.path.name for r in g}]
    assert len(leaking) == 1
    assert {(r.split, r.class_name) for r in leaking[0]} == {
        ("train", "cats"), ("val", "cats"), ("train", "dogs")}


def test_duplicates_within_one_class_are_reported_without_warning(tmp_path):
    root = tmp_path / "photos"
    _noise_jpeg(root / "cats" / "a.jpg", seed=1)
    (root / "cats" / "a copy.jpg").write_bytes((root / "cats" / "a.jpg").read_bytes())
    _noise_jpeg(root / "dogs" / "b.jpg", seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        report = load_image_folder(root, 8).report
    assert [sorted(r.path.name for r in g) for g in report.duplicates] == [["a copy.jpg", "a.jpg"]]
    assert report.warnings == []


def test_example_kit_photos_load_with_their_test_split():
    folder = tk.kit.example_photos_folder()
    before = _snapshot(folder)
    data = tk.kit.load_example_photos(image_size=32, batch_size=64)
    train_ds, val_ds, class_names, report = data
    assert _snapshot(folder) == before
    assert class_names == tk.kit.EXAMPLE_CLASS_NAMES == ["ants", "bees"]
    # Counted by listing the kit (data/README.md): every photo decodes.
    assert report.counts == {"train": {"ants": 92, "bees": 91}, "val": {"ants": 31, "bees": 30},
                             "test": {"ants": 70, "bees": 83}}
    assert report.num_images == 397
    assert "ant photos.jpg" in {p.name for p in report.train_paths}  # a space in the name
    assert report.skipped == [] and report.duplicates == [] and report.warnings == []
    assert report.train_images.shape == (183, 32, 32, 3)
    assert sum(int(labels.shape[0]) for _, labels in data.test_ds) == 153
    # The three parts are disjoint files.
    paths = [set(report.train_paths), set(report.val_paths), set(report.test_paths)]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.write_text("x"), "is a file"),
        (lambda root: root.mkdir(), "is empty"),
        (lambda root: _save(root / ".hidden.png"), "is empty"),
        (lambda root: _save(root / "loose.png"), "images directly in it.*one folder per class"),
        (lambda root: (_two_class_folder(root), _save(root / "stray.jpg")),
         "images directly in it"),
        (lambda root: _save(root / "cats" / "a.png"), "needs at least two"),
        (lambda root: (_two_class_folder(root), (root / "dogs" / "empty").mkdir(),
                       [p.unlink() for p in (root / "dogs").glob("*.png")]),
         "Class folder 'dogs'.*no usable image"),
        (lambda root: (_two_class_folder(root), (root / "birds").mkdir()),
         "Class folder 'birds'.*it is empty"),
        (lambda root: (_two_class_folder(root), (root / "birds").mkdir(),
                       (root / "birds" / "a.jpg").write_text("text")),
         r"Class folder 'birds'.*a\.jpg: not an image"),
        (lambda root: _two_class_folder(root / "train"), "Unknown folder layout.*train/ alone"),
        (lambda root: (_two_class_folder(root / "train"), _two_class_folder(root / "val"),
                       _save(root / "cats" / "a.png")), "Unknown folder layout.*not a mix"),
        (lambda root: (_two_class_folder(root / "train"), _two_class_folder(root / "val"),
                       _save(root / "val" / "birds" / "a.png")),
         "Class.*birds.*no folder in"),
        (lambda root: (_two_class_folder(root / "train"), (root / "valid").mkdir()),
         "held-out folder.*has no class folders"),
        (lambda root: (_two_class_folder(root / "train"), _two_class_folder(root / "Train"),
                       _two_class_folder(root / "val")),
         "Folders 'Train' and 'train' in .* name the same split.*Merge them"),
    ],
)
def test_clear_errors_for_bad_folders(tmp_path, build, match):
    root = tmp_path / "root"
    build(root)
    with pytest.raises(ValueError, match=match):
        load_image_folder(root, 8)


def test_class_names_from_macos_and_linux_folders_are_the_same_class(tmp_path):
    # macOS writes "Café" decomposed (NFD); typed on Linux it is composed (NFC).
    nfd, nfc = "Cafe\u0301", "Caf\u00e9"
    for split, name, seed in [("train", nfd, 0), ("train", "dogs", 10), ("val", nfc, 20),
                              ("val", "dogs", 30)]:
        for i in range(2):
            _noise_jpeg(tmp_path / split / name / f"{i}.jpg", seed=seed + i)
    data = load_image_folder(tmp_path, 8)
    assert data.class_names == [nfc, "dogs"]
    assert data.report.counts == {"train": {nfc: 2, "dogs": 2}, "val": {nfc: 2, "dogs": 2}}


def test_one_class_in_two_unicode_forms_is_an_error_not_a_merge(tmp_path):
    for name, seed in [("Cafe\u0301", 0), ("Caf\u00e9", 10)]:
        for i in range(2):
            _noise_jpeg(tmp_path / name / f"{i}.jpg", seed=seed + i)
    with pytest.raises(ValueError, match=r"'Cafe\\u0301' and 'Caf\\xe9'.*two Unicode forms"):
        load_image_folder(tmp_path, 8)


def test_a_class_folder_name_that_is_not_utf8_is_refused(tmp_path):
    _two_class_folder(tmp_path)
    _noise_jpeg(tmp_path / os.fsdecode(b"\xe9t\xe9") / "0.jpg")  # Latin-1 bytes, not UTF-8
    with pytest.raises(ValueError,
                       match=r"b'\\xe9t\\xe9'.*not UTF-8.*Latin-1 its name is 'été'"):
        load_image_folder(tmp_path, 8)


@pytest.mark.parametrize("split, error", [(0, ValueError), (1, ValueError), (1.5, ValueError),
                                          (-0.1, ValueError), ("0.2", TypeError),
                                          (True, TypeError)])
def test_bad_validation_split(tmp_path, split, error):
    with pytest.raises(error, match="`validation_split` must be a fraction"):
        load_image_folder(_two_class_folder(tmp_path), 8, validation_split=split)


@pytest.mark.parametrize("options, error, match", [
    (dict(seed="abc"), TypeError, "`seed` must be a whole number"),
    (dict(seed=-1), ValueError, "`seed` must be from 0"),
    (dict(shuffle="no"), TypeError, "`shuffle` must be True or False"),
])
def test_bad_seed_and_shuffle_are_clear_errors(tmp_path, options, error, match):
    with pytest.raises(error, match=match):  # they used to fail in TensorFlow, or not at all
        load_image_folder(_two_class_folder(tmp_path), 8, **options)


def test_validation_split_errors_for_small_classes_and_split_layouts(tmp_path):
    root = _two_class_folder(tmp_path / "a", per_class=2)
    with pytest.raises(ValueError, match="Class 'cats' has 2 image.*needs at least 3"):
        load_image_folder(root, 8, validation_split=0.2)
    split_root = tmp_path / "b"
    _two_class_folder(split_root / "train")
    _two_class_folder(split_root / "val")
    with pytest.raises(ValueError, match="cannot be used.*held-out folder"):
        load_image_folder(split_root, 8, validation_split=0.2)


@pytest.mark.parametrize("size, error", [(0, ValueError), (-3, ValueError), ((8,), ValueError),
                                         ((8, 0), ValueError), ("8", TypeError),
                                         (8.0, TypeError), ((True, 8), TypeError)])
def test_bad_image_size(tmp_path, size, error):
    with pytest.raises(error, match="`image_size` must be"):
        load_image_folder(_two_class_folder(tmp_path), size)


# ----------------------------------------------------------------------------
# load_fashion_mnist: the order of sources, the real Debian copy, corrupt files.


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def _fake_fashion_mnist(folder, value, num_train=6, num_test=4):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.full((n, 28, 28), value))
    return folder


def test_fashion_mnist_prefers_the_keras_cache(tmp_path):
    cache = _fake_fashion_mnist(tmp_path / "cache", value=1)
    debian = _fake_fashion_mnist(tmp_path / "debian", value=2)
    fashion = load_fashion_mnist(cache_dir=cache, debian_dir=debian)
    assert "Keras cache" in fashion.source and str(cache) in fashion.source
    assert fashion.train_images.shape == (6, 28, 28) and fashion.train_images.dtype == np.uint8
    assert fashion.train_images.max() == 1 and fashion.test_labels.tolist() == [0, 1, 2, 3]
    assert fashion.train_labels.dtype == np.int32
    assert fashion.class_names[0] == "T-shirt/top" and len(fashion.class_names) == 10


def test_fashion_mnist_falls_back_to_debian_then_download(tmp_path, monkeypatch):
    debian = _fake_fashion_mnist(tmp_path / "debian", value=2)
    partial = _fake_fashion_mnist(tmp_path / "cache", value=1)
    (partial / "t10k-images-idx3-ubyte.gz").unlink()  # an incomplete cache is passed over
    fashion = load_fashion_mnist(cache_dir=partial, debian_dir=debian)
    assert "Debian" in fashion.source and fashion.train_images.max() == 2

    fake = np.full((3, 28, 28), 7, np.uint8)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data",
                        lambda: ((fake, np.array([1, 2, 3], np.uint8)), (fake, np.zeros(3))))
    fashion = load_fashion_mnist(cache_dir=partial, debian_dir=tmp_path / "none")
    assert "load_data" in fashion.source and fashion.train_labels.tolist() == [1, 2, 3]
    with pytest.raises(FashionMNISTUnavailableError, match="not tried"):
        load_fashion_mnist(cache_dir=partial, debian_dir=tmp_path / "none", download=False)


def test_fashion_mnist_uses_keras_home_set_at_call_time(tmp_path, monkeypatch):
    _fake_fashion_mnist(tmp_path / "datasets" / "fashion-mnist", value=3)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fashion = load_fashion_mnist(debian_dir=tmp_path / "none")
    assert str(tmp_path) in fashion.source and fashion.train_images.max() == 3


def test_fashion_mnist_unavailable_lists_the_three_fixes(tmp_path):
    with pytest.raises(FashionMNISTUnavailableError) as error:
        load_fashion_mnist(cache_dir=tmp_path / "cache", debian_dir=tmp_path / "debian")
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "cache") in message and "train-images-idx3-ubyte.gz" in message
    assert "internet" in message and "network disabled in tests" in message


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda path: path.write_bytes(b"not gzip at all"), "not a readable gzip"),
        (lambda path: _write_idx(path, np.zeros((2, 2))), "magic number"),
        (lambda path: path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x09"
                                                     + b"\x00\x00\x00\x1c" * 2 + b"\x00" * 99)),
         "header says"),
    ],
)
def test_corrupt_fashion_mnist_file_is_named(tmp_path, damage, match):
    cache = _fake_fashion_mnist(tmp_path / "cache", value=1)
    damage(cache / "train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte.gz.*{match}"):
        load_fashion_mnist(cache_dir=cache)


DEBIAN = data.FASHION_MNIST_DEBIAN_DIR


def test_the_debian_folder_comes_from_the_package_file_list_without_running_dpkg(
        tmp_path, monkeypatch):
    from transfer_keras.data import fashion_mnist

    def no_programs(*args, **kwargs):
        raise AssertionError("the library ran a program")

    monkeypatch.setattr("subprocess.run", no_programs)
    monkeypatch.setattr("subprocess.Popen", no_programs)
    listing = tmp_path / "dataset-fashion-mnist.list"
    listing.write_text("/.\n/opt/data\n/opt/data/fashion\n"
                       "/opt/data/fashion/train-labels-idx1-ubyte.gz\n")
    assert fashion_mnist.debian_fashion_mnist_dir(file_list=listing) == Path("/opt/data/fashion")
    # no list (the package is not installed): the package's usual folder
    assert fashion_mnist.debian_fashion_mnist_dir(file_list=tmp_path / "missing.list") == DEBIAN


@pytest.mark.fashion_mnist
@pytest.mark.skipif(not DEBIAN.is_dir(), reason=f"needs Debian's dataset-fashion-mnist at "
                    f"{DEBIAN} (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_debian(tmp_path):
    assert data.debian_fashion_mnist_dir() == DEBIAN
    fashion = load_fashion_mnist(cache_dir=tmp_path, download=False)
    assert fashion.source == f"Debian's dataset-fashion-mnist: {DEBIAN}"
    assert fashion.train_images.shape == (60000, 28, 28)
    assert fashion.test_images.shape == (10000, 28, 28)
    assert fashion.train_images.dtype == np.uint8
    assert np.bincount(fashion.train_labels).tolist() == [6000] * 10
    assert np.bincount(fashion.test_labels).tolist() == [1000] * 10
    assert fashion.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


# ----------------------------------------------------------------------------
# split_classes and sample_per_class.


def _toy_set(per_class=5, num_classes=4):
    labels = np.repeat(np.arange(num_classes), per_class)
    return np.arange(len(labels))[:, None] * np.ones((1, 3)), labels


def test_split_classes_makes_disjoint_reindexed_tasks():
    images, labels = _toy_set()
    names = ["a", "b", "c", "d"]
    source, target = split_classes(images, labels, [3, 1], ["a"], class_names=names)
    assert source.class_names == ["d", "b"] and target.class_names == ["a"]
    assert sorted(source.labels.tolist()) == [0] * 5 + [1] * 5
    np.testing.assert_array_equal(source.images[source.labels == 0, 0], np.arange(15, 20))
    np.testing.assert_array_equal(target.images[:, 0], np.arange(5))
    assert not set(source.images[:, 0]) & set(target.images[:, 0])
    assert source.labels.dtype == np.int32
    assert split_classes(images, labels, [2], [0])[0].class_names == ["2"]


@pytest.mark.parametrize(
    "source, target, match",
    [([0, 1], [1, 2], "must not overlap"), ([], [1], "one or more distinct"),
     ([0, 0], [1], "one or more distinct"), ([7], [1], "Class 7.*has no images"),
     (["zebra"], [1], "Unknown class 'zebra'")],
)
def test_split_classes_errors(source, target, match):
    images, labels = _toy_set()
    with pytest.raises(ValueError, match=match):
        split_classes(images, labels, source, target, class_names=list("abcd"))


def test_split_classes_refuses_too_few_class_names():  # used to be an IndexError
    images, labels = _toy_set()
    with pytest.raises(ValueError, match=r"`class_names` must name every label \(up to 3\); "
                                         r"received 1 name"):
        split_classes(images, labels, [0], [1], class_names=["a"])


def test_sample_per_class_is_balanced_reproducible_and_nested():
    images, labels = _toy_set(per_class=20, num_classes=3)
    few_images, few_labels = sample_per_class(images, labels, 5, seed=4)
    assert np.bincount(few_labels).tolist() == [5, 5, 5]
    np.testing.assert_array_equal(labels[few_images[:, 0].astype(int)], few_labels)
    again = sample_per_class(images, labels, 5, seed=4)[0]
    np.testing.assert_array_equal(few_images, again)
    assert not np.array_equal(few_images, sample_per_class(images, labels, 5, seed=5)[0])
    more_images, _ = sample_per_class(images, labels, 10, seed=4)
    assert set(few_images[:, 0]) <= set(more_images[:, 0])


@pytest.mark.parametrize("n, error, match", [(0, ValueError, ">= 1"), (2.5, TypeError, ">= 1"),
                                             (True, TypeError, ">= 1"),
                                             (6, ValueError, "Class 2 has only 3 image.*n=6")])
def test_sample_per_class_errors(n, error, match):
    labels = np.array([0] * 8 + [1] * 8 + [2] * 3)
    with pytest.raises(error, match=match):
        sample_per_class(np.zeros((19, 2, 2)), labels, n)


# ----------------------------------------------------------------------------
# prepare and dataset_to_arrays.


def test_prepare_grayscale_arrays_resizes_and_repeats_channels():
    images = np.random.default_rng(0).integers(0, 256, (10, 28, 28), np.uint8)
    ds = prepare((images, np.arange(10) % 3), image_size=(32, 40), batch_size=4)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    batch_images, batch_labels = batches[0]
    assert batch_images.shape == (4, 32, 40, 3) and batch_images.dtype == tf.float32
    assert batch_labels.dtype == tf.int32
    values = batch_images.numpy()
    assert values.min() >= 0 and values.max() <= 255 and values.max() > 1
    np.testing.assert_array_equal(values[..., 0], values[..., 2])


def test_prepare_keeps_pixels_when_no_resize_is_needed():
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), np.uint8)
    out_images, out_labels = dataset_to_arrays(prepare((images, np.arange(6)), batch_size=4))
    np.testing.assert_array_equal(out_images, images.astype(np.float32))
    assert out_labels.tolist() == list(range(6))
    gray, _ = dataset_to_arrays(prepare((images, np.arange(6)), channels=1))
    assert gray.shape == (6, 8, 8, 1)
    one_channel, _ = dataset_to_arrays(prepare((images[..., :1] * 1.0, np.arange(6))))
    assert one_channel.shape == (6, 8, 8, 3)


def test_prepare_shuffles_reproducibly_and_reshuffles_each_epoch():
    images = np.arange(32, dtype=np.uint8).reshape(32, 1, 1)
    ds = prepare((images, np.arange(32)), batch_size=32, shuffle=True, seed=7)
    first, second = (dataset_to_arrays(ds)[1].tolist() for _ in range(2))
    assert first != second and sorted(first) == list(range(32))
    same = prepare((images, np.arange(32)), batch_size=32, shuffle=True, seed=7)
    assert dataset_to_arrays(same)[1].tolist() == first


def _pipeline_steps(ds):
    """Class names of a dataset's steps, outermost first (e.g. PrefetchDataset, ...)."""
    steps = []
    while ds is not None:
        steps.append(type(ds).__name__)
        ds = getattr(ds, "_input_dataset", None)
    return steps


@pytest.mark.parametrize("images, kwargs", [
    (np.random.default_rng(0).integers(0, 256, (70, 28, 28), np.uint8),
     {"image_size": 32, "batch_size": 16, "shuffle": True, "seed": 3}),
    (np.random.default_rng(1).integers(0, 256, (50, 40, 30, 3), np.uint8),
     {"image_size": (24, 20), "batch_size": 7, "shuffle": True, "seed": 1, "channels": 1}),
    (np.random.default_rng(2).uniform(0, 255, (33, 16, 16, 1)), {"batch_size": 8}),
])
def test_prepare_converts_small_arrays_up_front_with_the_same_batches(monkeypatch, images,
                                                                       kwargs):
    labels = np.arange(len(images)) % 3
    up_front = prepare((images, labels), **kwargs)
    assert "MapDataset" not in "".join(_pipeline_steps(up_front))  # no per-pass conversion
    monkeypatch.setattr(data.pipelines, "CONVERT_UP_FRONT_BYTES", 0)  # "too large"
    per_batch = prepare((images, labels), **kwargs)
    assert "MapDataset" in "".join(_pipeline_steps(per_batch))
    assert up_front.element_spec == per_batch.element_spec
    for _ in range(2):  # two epochs: the same reshuffled order in both
        for (a_images, a_labels), (b_images, b_labels) in zip(up_front, per_batch, strict=True):
            np.testing.assert_array_equal(a_images.numpy(), b_images.numpy())
            np.testing.assert_array_equal(a_labels.numpy(), b_labels.numpy())


def test_prepare_converts_up_front_only_within_the_limit(monkeypatch):
    """The limit counts the float32 model input: resized, with its channels."""
    images = np.zeros((10, 8, 8), np.uint8)  # grayscale, shown as RGB at 16x12
    converted_bytes = 10 * 16 * 12 * 3 * 4
    for limit, up_front in [(converted_bytes, True), (converted_bytes - 1, False)]:
        monkeypatch.setattr(data.pipelines, "CONVERT_UP_FRONT_BYTES", limit)
        ds = prepare((images, np.arange(10)), image_size=(16, 12), shuffle=True, seed=0)
        assert ("MapDataset" not in "".join(_pipeline_steps(ds))) is up_front, limit
        assert ds.element_spec[0].shape.as_list() == [None, 16, 12, 3]


def test_prepare_datasets_of_different_sizes_and_augmentation():
    shapes = [(10, 12, 3), (20, 8, 3), (16, 16, 3)]
    ds = tf.data.Dataset.from_generator(
        lambda: ((np.full(s, 100, np.uint8), i) for i, s in enumerate(shapes)),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)))
    with pytest.raises(ValueError, match="different sizes; pass `image_size`"):
        prepare(ds)
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    images, labels = dataset_to_arrays(prepare(ds, image_size=12, batch_size=2, augment=flip))
    assert images.shape == (3, 12, 12, 3) and labels.tolist() == [0, 1, 2]
    np.testing.assert_allclose(images, 100)
    doubled, _ = dataset_to_arrays(prepare(ds, image_size=12, augment=lambda x: x * 2))
    np.testing.assert_allclose(doubled, 200)


@pytest.mark.parametrize(
    "data_arg, kwargs, error, match",
    [
        ("images", {}, TypeError, "`data` must be"),
        ((np.zeros((2, 4, 4, 4)), np.arange(2)), {}, ValueError, "`images` must have shape"),
        ((np.zeros((2, 4, 4)), np.eye(2)), {}, ValueError, "one-hot.*argmax"),
        ((np.zeros((3, 4, 4)), np.arange(2)), {}, ValueError, "same, non-zero length"),
        ((np.zeros((2, 4, 4)), np.arange(2)), {"channels": 2}, ValueError, "`channels`"),
        ((np.zeros((2, 4, 4)), np.arange(2)), {"batch_size": 0}, ValueError, "`batch_size`"),
        ((np.zeros((2, 4, 4)), np.arange(2)), {"image_size": (4, -1)}, ValueError,
         "`image_size`"),
        ((np.zeros((2, 4, 4)), np.arange(2)), {"augment": "flip"}, TypeError, "`augment`"),
        ((np.zeros((2, 4, 4)), np.arange(2)), {"shuffle": "yes"}, TypeError, "`shuffle`"),
    ],
)
def test_prepare_argument_errors(data_arg, kwargs, error, match):
    with pytest.raises(error, match=match):
        prepare(data_arg, **kwargs)


def test_prepare_rejects_batched_datasets_and_warns_about_unit_range():
    batched = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 3)), np.arange(4))).batch(2)
    with pytest.raises(ValueError, match="unbatch"):
        prepare(batched)
    with pytest.warns(DataWarning, match=r"\[0, 1\]"):
        prepare((np.full((2, 4, 4), 0.5), np.arange(2)))


# ----------------------------------------------------------------------------
# export_image_folder.


def test_export_round_trips_through_load_image_folder(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), np.uint8)
    labels = np.array([0, 1, 2] * 4)
    names = ["T-shirt/top", "Trouser", "Ankle boot"]
    folder = export_image_folder(images, labels, names, tmp_path / "fashion", per_class=3)
    assert folder == tmp_path / "fashion"
    assert sorted(p.name for p in folder.iterdir()) == ["Ankle boot", "T-shirt_top", "Trouser"]
    assert sorted(p.name for p in (folder / "Trouser").iterdir()) == ["01.png", "04.png",
                                                                       "07.png"]
    report = load_image_folder(folder, 28).report
    assert report.class_names == ["Ankle boot", "T-shirt_top", "Trouser"]
    by_file = {p.name: report.train_images[i] for i, p in enumerate(report.train_paths)}
    np.testing.assert_array_equal(by_file["04.png"][..., 0], images[4])
    assert [p.name for p in tmp_path.iterdir()] == ["fashion"]  # no temporary folder left


def test_export_refuses_class_names_that_would_read_back_as_split_folders(tmp_path):
    with pytest.raises(ValueError, match=r"\['Train'\] would be read back as split folders"):
        export_image_folder(np.zeros((2, 4, 4, 3), np.uint8), [0, 1], ["cat", "Train"],
                            tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pillows_decompression_bomb_check_reads_as_too_large(tmp_path, monkeypatch):
    _two_class_folder(tmp_path)  # 24x16 images
    _save(tmp_path / "cats" / "bomb.png", size=(30, 20))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250)  # Pillow refuses above 500 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        report = load_image_folder(tmp_path, 8).report
    reasons = {path.name: reason for path, reason in report.skipped}
    assert reasons["bomb.png"].startswith("image too large (Image size (600 pixels)")


def test_export_refuses_to_overwrite_and_leaves_no_partial_folder(tmp_path, monkeypatch):
    images, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1])
    target = tmp_path / "out"
    export_image_folder(images, labels, ["a", "b"], target)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_image_folder(images, labels, ["a", "b"], target)
    export_image_folder(images, labels, ["c", "d"], target, overwrite=True, format="jpeg")
    assert sorted(p.name for p in target.iterdir()) == ["c", "d"]

    calls = []
    real_save = Image.Image.save

    def failing_save(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        export_image_folder(images, labels, ["a", "b"], tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(ValueError, match="repeated folder names"):
        export_image_folder(images, labels, ["a/b", "a_b"], tmp_path / "x")
    with pytest.raises(ValueError, match="`labels` must be in 0..1"):
        export_image_folder(images, labels + 1, ["a", "b"], tmp_path / "x")


def test_prepare_caches_a_dataset_in_memory_or_in_a_file(tmp_path):
    ds = tf.data.Dataset.from_tensor_slices((np.full((5, 4, 4, 3), 9, np.uint8), np.arange(5)))
    for cache in (True, False, str(tmp_path / "cache")):
        images, labels = dataset_to_arrays(prepare(ds, batch_size=2, cache=cache, shuffle=True,
                                                   seed=1))
        assert images.shape == (5, 4, 4, 3) and sorted(labels.tolist()) == list(range(5))
    assert list(tmp_path.glob("cache*"))  # the cache file was written
    with pytest.raises(TypeError, match="`cache`"):
        prepare(ds, cache=5)


def test_a_class_without_validation_images_is_a_warning(tmp_path):
    _two_class_folder(tmp_path / "train", per_class=2)
    _save(tmp_path / "train" / "birds" / "a.png", color=(1, 2, 3))
    _two_class_folder(tmp_path / "val", per_class=1)
    with pytest.warns(DataWarning, match="birds have no images in val/"):
        report = load_image_folder(tmp_path, 8).report
    assert report.counts["val"] == {"birds": 0, "cats": 1, "dogs": 1}


# ----------------------------------------------------------------------------
# File-system safety: links, FIFOs, devices, unreadable folders, size limits.


def test_links_fifos_devices_and_huge_files_are_skipped_with_reasons(tmp_path, monkeypatch):
    root = _two_class_folder(tmp_path / "photos")
    cats = root / "cats"
    os.mkfifo(cats / "pipe.jpg")  # reading it would wait forever
    (cats / "zero.jpg").symlink_to("/dev/zero")  # reading it would never end
    (cats / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    (cats / "linked.png").symlink_to(cats / "0.png")  # a link to a photo is read
    _save(tmp_path / "elsewhere" / "far.png", color=(5, 6, 7))
    (cats / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (cats / "loop").symlink_to(cats, target_is_directory=True)
    _save(cats / "big.png", size=(40, 30), color=(9, 9, 9))
    (cats / "huge.jpg").write_bytes(b"\xff" * 2000)
    monkeypatch.setattr(data.images, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setattr(data.images, "MAX_FILE_BYTES", 1500)
    report = load_image_folder(root, 8).report
    assert [sorted(r.path.name for r in group) for group in report.duplicates] == [
        ["0.png", "linked.png"]]  # a link is a second copy, reported as such
    loaded = {p.name for p in report.train_paths}
    assert {"linked.png", "far.png"} <= loaded and "big.png" not in loaded
    reasons = {p.name: reason for p, reason in report.skipped}
    assert set(reasons) == {"pipe.jpg", "zero.jpg", "gone.jpg", "loop", "big.png",
                            "huge.jpg"}
    assert "not a regular file" in reasons["pipe.jpg"] and "FIFO" in reasons["pipe.jpg"]
    assert "character device" in reasons["zero.jpg"]
    assert "broken link" in reasons["gone.jpg"]
    assert "already read" in reasons["loop"]
    assert "image too large (40x30" in reasons["big.png"]
    assert "file too large" in reasons["huge.jpg"]
    assert report.counts["train"]["cats"] == 5  # 0-2.png, linked.png, more/far.png


def test_unreadable_folders_are_reported_not_called_empty(tmp_path, monkeypatch):
    root = _two_class_folder(tmp_path / "photos")
    _save(root / "cats" / "locked" / "a.png")
    (root / "birds").mkdir()
    _save(root / "birds" / "b.png", color=(1, 1, 1))
    real_scandir = os.scandir
    locked = {str(root / "cats" / "locked")}

    def scandir(path):
        if str(path) in locked:  # tests run as root, so chmod cannot lock a folder
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = load_image_folder(root, 8).report
    reasons = {p.name: reason for p, reason in report.skipped}
    assert reasons == {"locked": "cannot read the folder (Permission denied); its images "
                                 "are not loaded"}
    locked.add(str(root / "birds"))
    with pytest.raises(ValueError, match="Class folder 'birds'.*cannot be read: cannot "
                                         "read the folder \\(Permission denied\\)") as error:
        load_image_folder(root, 8)
    assert "empty" not in str(error.value)


def test_export_that_fails_leaves_the_old_folder_and_no_partial_one(tmp_path, monkeypatch):
    images, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1])
    target = export_image_folder(images, labels, ["a", "b"], tmp_path / "deep" / "out")
    before = _snapshot(target)

    def failing_save(self, *args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C half-way

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        export_image_folder(images, labels, ["c", "d"], target, overwrite=True)
    assert _snapshot(target) == before  # the old folder, untouched
    with pytest.raises(KeyboardInterrupt):
        export_image_folder(images, labels, ["c", "d"], tmp_path / "new" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]  # no parent left behind
    assert sorted(p.name for p in target.parent.iterdir()) == ["out"]  # no .out.partial-*


# ----------------------------------------------------------------------------
# The API: keyword-only options, frozen results, errors naming their argument.


def test_options_are_keyword_only(tmp_path):
    root = _two_class_folder(tmp_path / "photos")
    pair = (np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1]))
    for call in [lambda: load_image_folder(root, 8, 4),
                 lambda: prepare(pair, 8),
                 lambda: export_image_folder(*pair, ["a", "b"], tmp_path / "out", 1),
                 lambda: sample_per_class(*pair, 1, 0),
                 lambda: split_classes(*pair, [0], [1], ["a", "b"]),
                 lambda: load_fashion_mnist(tmp_path)]:
        with pytest.raises(TypeError, match="positional argument"):
            call()
    assert not (tmp_path / "out").exists()


def test_results_are_frozen_and_unpack_as_before(tmp_path):
    _two_class_folder(tmp_path / "train", per_class=2)
    _two_class_folder(tmp_path / "test", per_class=1)
    result = load_image_folder(tmp_path, 8, validation_split=0.5)
    train_ds, val_ds, class_names, report = result
    assert (train_ds, val_ds, class_names, report) == (
        result.train_ds, result.val_ds, result.class_names, result.report)
    assert result.test_ds is not None and report.test_labels.tolist() == [0, 1]
    record = data.ImageRecord(Path("a.png"), "train", "cats")
    for thing, name in [(result, "test_ds"), (report, "layout"), (report, "train_labels"),
                        (record, "split")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(thing, name, None)
    assert isinstance(report, data.DataReport) and report.val_paths and not report.skipped
    np.testing.assert_array_equal(result.arrays()[1], report.train_labels)


def test_argument_errors_name_the_argument(tmp_path):
    root = _two_class_folder(tmp_path / "photos")
    pair = (np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1]))
    cases = [
        (lambda: load_image_folder(tmp_path / "missing", 8), ValueError, "path"),
        (lambda: load_image_folder(root, 8, shuffle="yes"), TypeError, "shuffle"),
        (lambda: load_image_folder(root, 8, cache_dir=tmp_path / "no"), ValueError,
         "cache_dir"),
        (lambda: load_image(root, 8), ValueError, "path"),
        (lambda: prepare((pair[0], np.eye(4)), batch_size=2), ValueError, "labels"),
        (lambda: prepare(pair, augment="flip"), TypeError, "augment"),
        (lambda: export_image_folder(*pair, ["a", "b"], tmp_path / "o", format="gif"),
         ValueError, "format"),
        (lambda: export_image_folder(*pair, ["a", "a"], tmp_path / "o"), ValueError,
         "class_names"),
        (lambda: sample_per_class(pair[0], [0.5, 1, 0, 1], 1), ValueError, "labels"),
    ]
    for call, kind, argument in cases:
        with pytest.raises(kind) as error:
            call()
        assert error.value.argument == argument, str(error.value)


def test_the_cli_names_come_from_the_package():
    from transfer_keras.data import (  # noqa: F401 (importable, as the CLI needs them)
        SPLIT_FOLDER_NAMES,
        TRAIN_TEST_LAYOUT,
        class_folders_named_like_splits,
        folder_layout,
        list_files,
        read_image,
    )

    assert "train" in SPLIT_FOLDER_NAMES and TRAIN_TEST_LAYOUT == "train and test folders"
