"""Data in, batches out: image folders, Fashion-MNIST, class splits and `prepare`.

Everything here hands the model raw pixels in [0, 255]; preprocessing lives
inside the model (see `models.py`).

- `load_image_folder`: a folder of photos -> checked, resized uint8 arrays and
  `tf.data` datasets, with a `DataReport` of what was loaded, skipped and duplicated.
- `load_fashion_mnist`: the real Fashion-MNIST from the Keras cache, Debian's
  `dataset-fashion-mnist` package, or a Keras download, in that order.
- `split_classes` / `sample_per_class`: source and target tasks, few-label subsets.
- `prepare`: arrays or an unbatched dataset -> resized, batched, prefetched batches.
- `export_image_folder`: arrays -> `path/<class_name>/<index>.png`.
"""

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from transfer_keras import _keras_compat
from transfer_keras._table import Table
from transfer_keras.errors import ResourceUnavailableError

TRAIN_FOLDER = "train"
HELD_OUT_FOLDERS = ("val", "valid", "validation", "test")  # in order of preference
TEST_FOLDER = "test"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_MNIST_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                       "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FASHION_MNIST_DEBIAN_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 10_000  # largest shuffle buffer for datasets (arrays get a full shuffle)


class DataWarning(UserWarning):
    """Warns about a data problem that does not stop loading (leakage, label noise)."""


class FashionMNISTUnavailableError(FileNotFoundError, ResourceUnavailableError):
    """Raised when Fashion-MNIST is in no local folder and cannot be downloaded."""


class ImageRecord(NamedTuple):
    """One loaded image file: where it is, which split and which class it went to."""

    path: Path
    split: str
    class_name: str


class LabelledImages(NamedTuple):
    """Images with integer labels `0..k-1` and the `k` class names they stand for."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list


class FashionMNIST(NamedTuple):
    """Fashion-MNIST as uint8 `(n, 28, 28)` images, int32 labels, names and source."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list
    source: str


class _ImageFolderParts(NamedTuple):
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    class_names: list
    report: "DataReport"


class ImageFolderData(_ImageFolderParts):
    """What `load_image_folder` returns: `train_ds, val_ds, class_names, report = ...`.

    `val_ds` is None without a validation part. `test_ds` (an attribute, not
    part of the unpacking) holds a `test/` folder that sits beside `train/` and
    a validation folder; it is None otherwise. Score it only once, at the end:
    no choice (epochs, learning rate, early stopping) may look at it.
    """

    def __new__(cls, train_ds, val_ds, class_names, report, test_ds=None):
        self = super().__new__(cls, train_ds, val_ds, class_names, report)
        self.test_ds = test_ds
        return self

    def arrays(self):
        """Returns `(train_images, train_labels, val_images, val_labels)` as numpy."""
        report = self.report
        return report.train_images, report.train_labels, report.val_images, report.val_labels


# ----------------------------------------------------------------------------
# Argument checks shared by the loaders.


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a whole number >= 1; received {value!r}.")
    return int(value)


def _check_image_size(image_size):
    """Returns `(height, width)` from an int or a pair, or raises ValueError."""
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                       for s in size)):
        raise ValueError(
            f"`image_size` must be a positive int or a (height, width) pair of positive "
            f"ints; received {image_size!r}. Example: image_size=224 or (224, 224)."
        )
    return int(size[0]), int(size[1])


# ----------------------------------------------------------------------------
# Image folders.


class DataReport:
    """What `load_image_folder` found: counts, skipped files, duplicates, warnings.

    Attributes:
        root: the folder that was read.
        layout: `"class folders"` (`root/<class>/`) or `"split folders"` (`root/train/...`).
        class_names: sorted class names; label `i` is `class_names[i]`.
        image_size: `(height, width)` of the loaded arrays.
        counts: `{split: {class_name: number of images}}`, splits `"train"`, `"val"`
            and, for a train/val/test folder, `"test"`.
        skipped: list of `(path, reason)` for every file or folder not loaded.
        duplicates: list of groups of identical files, each a list of `ImageRecord`s.
        warnings: the data problems worth a look, as sentences.
        train_images, train_labels, train_paths: uint8 `(n, h, w, 3)` images, int32
            labels and the file of each image. `val_*` and `test_*` likewise (None /
            [] without that part).
    """

    def __init__(self, root, image_size):
        self.root = Path(root)
        self.image_size = image_size
        self.layout = None
        self.class_names = []
        self.counts = {}
        self.skipped = []
        self.duplicates = []
        self.warnings = []
        self.train_images = self.train_labels = self.val_images = self.val_labels = None
        self.test_images = self.test_labels = None
        self.train_paths, self.val_paths, self.test_paths = [], [], []

    @property
    def num_images(self):
        """Number of images loaded, over all splits."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    def arrays(self):
        """Returns `(train_images, train_labels, val_images, val_labels)` as numpy."""
        return self.train_images, self.train_labels, self.val_images, self.val_labels

    def _relative(self, path):
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def table(self):
        """Returns the report as a `Table`: one row per class, notes for the rest."""
        splits = list(self.counts)
        rows = []
        for name in self.class_names:
            row = {"class": name}
            row.update({split: self.counts[split].get(name, 0) for split in splits})
            row["total"] = sum(self.counts[split].get(name, 0) for split in splits)
            rows.append(row)
        notes = [f"Skipped {len(self.skipped)} file(s) or folder(s):"] if self.skipped else []
        notes += [f"  {self._relative(path)}: {reason}" for path, reason in self.skipped]
        if self.duplicates:
            notes.append(f"{len(self.duplicates)} group(s) of identical files (all kept):")
            notes += ["  " + " == ".join(self._relative(r.path) for r in group)
                      for group in self.duplicates]
        notes += [f"Warning: {text}" for text in self.warnings]
        height, width = self.image_size
        title = (f"{self.root} ({self.layout}): {self.num_images} images, "
                 f"{len(self.class_names)} classes, resized to {height}x{width}")
        return Table(["class", *splits, "total"], rows, title=title, notes=notes)

    def to_dict(self):
        """Returns the report as plain Python data (no arrays)."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "image_size": list(self.image_size),
            "class_names": list(self.class_names),
            "counts": {split: dict(c) for split, c in self.counts.items()},
            "num_images": self.num_images,
            "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped],
            "duplicates": [[{"path": str(r.path), "split": r.split, "class_name": r.class_name}
                            for r in group] for group in self.duplicates],
            "warnings": list(self.warnings),
        }

    def __str__(self):
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self):
        return self.table()._repr_html_()


def _to_rgb(image):
    """Converts any Pillow mode to RGB; transparent pixels become white."""
    if image.mode == "I" or image.mode.startswith("I;16"):  # 16-bit grayscale
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


def _decode_image(data, image_size):
    """Returns the file bytes `data` as a uint8 `(height, width, 3)` array.

    The image is turned upright (EXIF orientation), converted to RGB and resized
    to `image_size` with bilinear filtering, squashing it like Keras's
    `image_dataset_from_directory` (no crop, no padding). JPEGs are first
    decoded at a reduced scale (`Image.draft`) when they are much larger.
    """
    height, width = image_size
    with Image.open(io.BytesIO(data)) as image:  # GIF, TIFF, WEBP: the first frame
        if image.format == "JPEG":
            side = max(height, width)  # square, so EXIF rotation cannot make it too small
            image.draft("RGB", (side, side))
        image.load()  # raises for truncated or corrupt files
        image = _to_rgb(ImageOps.exif_transpose(image))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def load_image(path, image_size):
    """Reads one image file for prediction, exactly as `load_image_folder` does.

    Args:
        path: an image file (JPEG, PNG, GIF, BMP, WEBP, TIFF).
        image_size: an int or `(height, width)`: the model's input size.

    Returns:
        A uint8 `(height, width, 3)` array (upright, RGB, resized).

    Raises:
        ValueError: the file is missing, unreadable or not an image, with the reason.

    Example:
    >>> pixels = load_image("bee.jpg", 224)
    >>> model.predict(pixels[None], verbose=0)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} is not a file; give an image file.")
    _, pixels, reason = _read_image(path, _check_image_size(image_size))
    if reason:
        raise ValueError(f"`path` {str(path)!r} cannot be used: {reason}.")
    return pixels


def _read_image(path, image_size):
    """Returns `(sha256, pixels, None)` for a usable image, else `(None, None, reason)`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, None, f"cannot read the file ({error.strerror or error})"
    if not data:
        return None, None, "empty file (0 bytes)"
    try:
        return hashlib.sha256(data).hexdigest(), _decode_image(data, image_size), None
    except UnidentifiedImageError:
        return None, None, "not an image (Pillow cannot identify the format)"
    except Exception as error:  # Pillow raises many types for broken files
        return None, None, f"corrupt or truncated image ({type(error).__name__}: {error})"


def _list_files(folder, skipped):
    """Returns the non-hidden files under `folder`, recursively and sorted.

    Hidden files and folders (name starts with '.') are added to `skipped`.
    """
    files = []
    for current, folder_names, file_names in os.walk(folder):
        current = Path(current)
        for name in sorted(folder_names):
            if name.startswith("."):
                skipped.append((current / name, "hidden folder (name starts with '.'); not read"))
        folder_names[:] = sorted(name for name in folder_names if not name.startswith("."))
        for name in sorted(file_names):
            if name.startswith("."):
                skipped.append((current / name, "hidden file (name starts with '.')"))
            else:
                files.append(current / name)
    return files


def _visible_entries(folder, report=None):
    """Returns the non-hidden sub-folders and files of `folder`; reports hidden ones."""
    subfolders, files = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            if report is not None:
                kind = "folder" if entry.is_dir() else "file"
                report.skipped.append((entry, f"hidden {kind} (name starts with '.'); not read"))
        else:
            (subfolders if entry.is_dir() else files).append(entry)
    return subfolders, files


def _check_loose_files(folder, files, image_size, report):
    """Files outside class folders: images are an error, other files are reported."""
    loose_images = []
    for path in files:
        digest, _, reason = _read_image(path, image_size)
        if digest is not None:
            loose_images.append(path.name)
        else:
            report.skipped.append((path, f"not in a class folder; {reason}"))
    if loose_images:
        raise ValueError(
            f"Folder {str(folder)!r} has images directly in it ({', '.join(loose_images[:5])}"
            f"{', ...' if len(loose_images) > 5 else ''}). Put them in one folder per "
            f"class: {folder}/<class_name>/<image>."
        )


def _scan_classes(folder, image_size, report):
    """Reads `folder/<class>/**` into `{class_name: [(path, sha256, pixels), ...]}`."""
    class_folders, loose_files = _visible_entries(folder, report)
    _check_loose_files(folder, loose_files, image_size, report)
    scan = {}
    for class_folder in class_folders:
        skipped_here = []
        images = []
        for path in _list_files(class_folder, skipped_here):
            digest, pixels, reason = _read_image(path, image_size)
            if digest is None:
                skipped_here.append((path, reason))
            else:
                images.append((path, digest, pixels))
        report.skipped += skipped_here
        if not images:
            why = "; ".join(f"{path.name}: {reason}" for path, reason in skipped_here[:10])
            raise ValueError(
                f"Class folder {class_folder.name!r} ({class_folder}) has no usable image"
                f"{' (' + why + ')' if why else ': it is empty'}. Add images to it or "
                f"remove the folder."
            )
        scan[class_folder.name] = images
    return scan


def _find_splits(root, report):
    """Returns the split folders of the layout: `{"train": folder}`, plus `"val"`,
    plus `"test"` when a `test/` folder sits beside a validation folder."""
    subfolders, _ = _visible_entries(root)
    names = {folder.name.lower(): folder for folder in subfolders}
    split_names = [name for name in names if name in (TRAIN_FOLDER, *HELD_OUT_FOLDERS)]
    if not split_names:
        report.layout = "class folders"
        return {"train": root}
    others = sorted(folder.name for folder in subfolders if folder.name.lower() not in split_names)
    held_out = [name for name in HELD_OUT_FOLDERS if name in names]
    if others or TRAIN_FOLDER not in names or not held_out:
        raise ValueError(
            f"Unknown folder layout in {str(root)!r}: found folders "
            f"{', '.join(sorted(f.name for f in subfolders))}. Use either class folders "
            f"(root/<class_name>/<image>) or split folders (root/train/<class_name>/... "
            f"and root/val/<class_name>/...; 'valid', 'validation' or 'test' also name "
            f"the held-out part; with both a validation folder and test/, test/ is the "
            f"test part), not a mix, and not train/ alone."
        )
    report.layout = "split folders"
    splits = {"train": names[TRAIN_FOLDER], "val": names[held_out[0]]}
    rest = held_out[1:]
    if TEST_FOLDER in rest:
        splits["test"] = names[TEST_FOLDER]
        rest.remove(TEST_FOLDER)
    for extra in rest:
        report.skipped.append((names[extra], f"held-out folder not loaded: "
                               f"{names[held_out[0]].name!r} is the validation part. Load "
                               f"it alone with load_image_folder({str(names[extra])!r}, ...)"))
    return splits


def folder_layout(path):
    """How `load_image_folder` reads `path`: `"class folders"` or `"split folders"`.

    Looks at the folder names only (no image is read), so a caller can choose
    `validation_split` first: split folders bring their own validation part.

    Raises:
        ValueError: a layout `load_image_folder` cannot read (the same message).

    Example:
    >>> folder_layout(kit.example_photos_folder())
    'split folders'
    """
    report = DataReport(path, None)
    _find_splits(Path(path).expanduser(), report)
    return report.layout


def _stratified_split(scan, validation_split, seed):
    """Splits each class's images into train and validation parts, reproducibly."""
    rng = np.random.default_rng(seed)
    train, val = {}, {}
    for name in sorted(scan):
        images = scan[name]
        num_val = int(round(len(images) * validation_split))
        if num_val < 1 or num_val >= len(images):
            needed = next(n for n in range(2, 10**6)
                          if 1 <= int(round(n * validation_split)) < n)
            raise ValueError(
                f"Class {name!r} has {len(images)} image(s), too few to split with "
                f"validation_split={validation_split}: it needs at least {needed}. Add "
                f"images, change validation_split, or use separate train/ and val/ folders."
            )
        order = rng.permutation(len(images))
        val[name] = [images[i] for i in sorted(order[:num_val])]
        train[name] = [images[i] for i in sorted(order[num_val:])]
    return train, val


def _check_duplicates(records, report):
    """Reports groups of identical files; warns about leakage and label noise."""
    groups = {}
    for digest, record in records:
        groups.setdefault(digest, []).append(record)
    report.duplicates = [group for group in groups.values() if len(group) > 1]
    leaks = [g for g in report.duplicates if len({r.split for r in g}) > 1]
    conflicts = [g for g in report.duplicates if len({r.class_name for r in g}) > 1]
    for found, problem, fix in [
        (leaks, "are in more than one split (leakage: validation or test scores will be "
                "too optimistic)", "keep one copy, in one split"),
        (conflicts, "are in more than one class (label noise)",
         "keep the copy in the right class"),
    ]:
        if found:
            example = " == ".join(report._relative(r.path) for r in found[0])
            report.warnings.append(f"{len(found)} group(s) of identical files {problem}, "
                                   f"e.g. {example}. To fix it, {fix}.")


def _check_held_out_classes(scan, folder, train_folder, class_names, report):
    """A held-out part needs class folders, all of them known from train/."""
    if not scan:
        raise ValueError(
            f"The held-out folder {str(folder)!r} has no class folders. Put its images in "
            f"{folder}/<class_name>/, or remove it and use validation_split."
        )
    unknown = sorted(set(scan) - set(class_names))
    if unknown:
        raise ValueError(
            f"Class(es) {', '.join(unknown)} in {folder} have no folder in {train_folder}. "
            f"Known classes: {', '.join(class_names)}. Add them to train/ or remove them "
            f"from {folder.name}/."
        )
    missing = sorted(set(class_names) - set(scan))
    if missing:
        report.warnings.append(f"Class(es) {', '.join(missing)} have no images in "
                               f"{folder.name}/; their scores there cannot be measured.")


def load_image_folder(path, image_size, batch_size=32, validation_split=None, seed=0,
                      shuffle=True):
    """Loads a folder of images, one sub-folder per class, into checked datasets.

    Two layouts are understood: `root/<class_name>/<image>` (optionally split
    with `validation_split`, stratified per class) and `root/train/<class_name>/...`
    plus `root/val/<class_name>/...` ('valid', 'validation' or 'test' also work).
    Images in nested, non-hidden sub-folders of a class folder belong to that class.

    Every file is decoded once with Pillow, turned upright (EXIF), converted to
    RGB (grayscale, palette and CMYK converted; transparent pixels become white)
    and resized to `image_size` (bilinear, squashed). Files that are not images,
    are corrupt or truncated, and hidden files and folders are skipped and listed
    in the report with the reason. Identical files are reported (all kept);
    identical files across train/validation or across classes also raise a
    `DataWarning`. Nothing in the folder is moved, written or deleted.

    Args:
        path: the root folder.
        image_size: an int or `(height, width)` to resize every image to.
        batch_size: images per batch. Defaults to `32`.
        validation_split: fraction in (0, 1) of each class held out for
            validation (class-folder layout only). Defaults to `None` (no split).
        seed: seed of the validation split and of the training shuffle.
            Defaults to `0`.
        shuffle: reshuffle the training set every epoch. Defaults to `True`.

    Returns:
        `ImageFolderData(train_ds, val_ds, class_names, report)`. The datasets
        yield `(float32 images (b, h, w, 3) in [0, 255], int32 labels)`; `val_ds`
        is None without a validation part. `report` is a `DataReport`, which also
        holds the uint8 arrays and file paths (`report.arrays()`, `report.train_paths`).

    Raises:
        ValueError: missing or empty folder, images outside class folders, a class
            with no usable image, fewer than two classes, an unknown layout, a
            validation class absent from train, or a bad `validation_split`.

    Example:
    >>> train_ds, val_ds, class_names, report = load_image_folder(
    ...     "hymenoptera_data", image_size=160)
    >>> class_names
    ['ants', 'bees']
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise ValueError(f"`path` {str(path)!r} does not exist. Check the spelling and "
                         f"the current folder ({os.getcwd()}).")
    if not root.is_dir():
        raise ValueError(f"`path` {str(path)!r} is a file; pass the folder that holds "
                         f"one sub-folder per class.")
    image_size = _check_image_size(image_size)
    batch_size = _check_positive_int(batch_size, "batch_size")
    if validation_split is not None and not (
            isinstance(validation_split, (float, int)) and 0 < validation_split < 1):
        raise ValueError(f"`validation_split` must be a fraction between 0 and 1 (e.g. "
                         f"0.2) or None; received {validation_split!r}.")

    report = DataReport(root, image_size)
    if not any(not entry.name.startswith(".") for entry in root.iterdir()):
        raise ValueError(
            f"Folder {str(root)!r} is empty (or holds only hidden files). Expected one "
            f"sub-folder per class: {root}/<class_name>/<image>."
        )
    split_folders = _find_splits(root, report)
    if report.layout == "split folders":
        _check_loose_files(root, _visible_entries(root, report)[1], image_size, report)
    if "val" in split_folders and validation_split is not None:
        raise ValueError(
            f"`validation_split`={validation_split} cannot be used with {str(root)!r}: it "
            f"already has a held-out folder ({split_folders['val'].name}/). Pass "
            f"validation_split=None."
        )
    scans = {split: _scan_classes(folder, image_size, report)
             for split, folder in split_folders.items()}
    if validation_split is not None:
        scans["train"], scans["val"] = _stratified_split(scans["train"], validation_split, seed)

    class_names = sorted(scans["train"])
    if len(class_names) < 2:
        raise ValueError(
            f"Found {len(class_names)} class folder(s) ({', '.join(class_names)}) in "
            f"{str(split_folders['train'])!r}; a classifier needs at least two. Add one "
            f"folder per class: <root>/<class_name>/<image>."
        )
    for split in ("val", "test"):
        if split in split_folders:  # (a validation_split part cannot miss a class)
            _check_held_out_classes(scans[split], split_folders[split],
                                    split_folders["train"], class_names, report)

    report.class_names = class_names
    records = []
    for split, scan in scans.items():
        images, labels, paths = [], [], []
        for label, name in enumerate(class_names):
            for file_path, digest, pixels in scan.get(name, []):
                images.append(pixels)
                labels.append(label)
                paths.append(file_path)
                records.append((digest, ImageRecord(file_path, split, name)))
        setattr(report, f"{split}_images", np.stack(images))
        setattr(report, f"{split}_labels", np.array(labels, dtype=np.int32))
        setattr(report, f"{split}_paths", paths)
        report.counts[split] = {name: len(scan.get(name, [])) for name in class_names}
    _check_duplicates(records, report)
    for text in report.warnings:
        warnings.warn(text, DataWarning, stacklevel=2)

    train_ds = prepare((report.train_images, report.train_labels), batch_size=batch_size,
                       shuffle=shuffle, seed=seed)
    val_ds, test_ds = (
        None if images is None else prepare((images, labels), batch_size=batch_size)
        for images, labels in [(report.val_images, report.val_labels),
                               (report.test_images, report.test_labels)])
    return ImageFolderData(train_ds, val_ds, class_names, report, test_ds)


# ----------------------------------------------------------------------------
# prepare: arrays or a dataset -> batches for the model.


def _check_arrays(data):
    """Returns `(images, labels)` numpy arrays from a pair, or raises with the fix."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"`data` must be an unbatched tf.data.Dataset of (image, label) or a pair "
            f"(images, labels) of arrays; received {type(data).__name__}."
        )
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise ValueError(
            f"`images` must have shape (n, height, width), (n, height, width, 1) or "
            f"(n, height, width, 3); received shape {images.shape}."
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise TypeError(f"`images` must hold numbers (uint8 or float); received dtype "
                        f"{images.dtype}.")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`labels` must be a 1-D array of integer class indices; received shape "
            f"{labels.shape}, dtype {labels.dtype}. For one-hot labels pass "
            f"labels.argmax(axis=1)."
        )
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"`images` and `labels` must have the same, non-zero length; "
                         f"received {len(images)} images and {len(labels)} labels.")
    if np.issubdtype(images.dtype, np.floating) and images.max() <= 1.0:
        warnings.warn("`images` look scaled to [0, 1], but the models expect raw pixels "
                      "in [0, 255] (they preprocess themselves). Pass images * 255.",
                      DataWarning, stacklevel=3)
    return images, labels


def _check_dataset(dataset):
    """Checks that a dataset yields unbatched `(image, integer label)` pairs."""
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"`data` must yield (image, label) pairs; its elements are {spec}.")
    image_spec, label_spec = spec
    if image_spec.shape.rank not in (2, 3) or (
            image_spec.shape.rank == 3 and image_spec.shape[-1] not in (1, 3)):
        raise ValueError(
            f"`data` images must be (height, width), (height, width, 1) or (height, "
            f"width, 3); received {image_spec.shape}. If the dataset is batched, pass "
            f"ds.unbatch(); when decoding files, set channels=3."
        )
    if label_spec.shape.rank != 0 or not label_spec.dtype.is_integer:
        raise ValueError(
            f"`data` labels must be integer class indices (one per image); received "
            f"{label_spec}. For one-hot labels map them with tf.argmax(label)."
        )


def prepare(data, image_size=None, channels=3, batch_size=32, shuffle=False, cache=True,
            augment=None, seed=None):
    """Turns images and labels into batches a model can train on.

    Steps: cache the raw elements -> shuffle (a new order every epoch) -> batch ->
    resize (bilinear, only when the size differs) and grayscale <-> RGB on whole
    batches, in parallel -> optional `augment` -> prefetch. Pixel values stay in
    [0, 255]: the model does its own preprocessing.

    Args:
        data: a pair `(images, labels)` of arrays (images `(n, h, w)`, `(n, h, w, 1)`
            or `(n, h, w, 3)`, uint8 or float in [0, 255]; integer labels), or an
            unbatched `tf.data.Dataset` of `(image, label)`.
        image_size: an int or `(height, width)`. Defaults to `None` (keep the size;
            the images must then all have the same size).
        channels: 3 (RGB; grayscale is repeated) or 1. Defaults to `3`.
        batch_size: images per batch. Defaults to `32`.
        shuffle: reshuffle the elements every epoch (arrays: a full shuffle;
            datasets: a buffer of up to `SHUFFLE_BUFFER` elements). Defaults to `False`.
        cache: keep the raw elements of a dataset in memory (`True`) or in a
            cache file (a path) after the first epoch. Arrays are already in
            memory and are not copied. Defaults to `True`.
        augment: a callable (e.g. `build_augmentation()`) applied to each float
            batch; Keras layers are called with `training=True`. Defaults to `None`.
        seed: the shuffle seed. Defaults to `None` (a different order every run).

    Returns:
        A `tf.data.Dataset` of `(float32 (b, H, W, channels), int32 (b,))` batches.

    Raises:
        TypeError: `data` is neither a dataset nor a pair of arrays, or `augment`,
            `shuffle`, `seed` or `cache` has the wrong type.
        ValueError: bad shapes, labels, `image_size`, `channels` or `batch_size`.

    Example:
    >>> images = np.zeros((10, 28, 28), np.uint8)
    >>> ds = prepare((images, np.arange(10) % 2), image_size=32, batch_size=4)
    >>> ds.element_spec[0].shape
    TensorShape([None, 32, 32, 3])
    """
    image_size = None if image_size is None else _check_image_size(image_size)
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; received {channels!r}.")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not isinstance(shuffle, bool):
        raise TypeError(f"`shuffle` must be True or False; received {shuffle!r}.")
    if augment is not None and not callable(augment):
        raise TypeError(f"`augment` must be a callable such as a Keras layer, or None; "
                        f"received {type(augment).__name__}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None; received {seed!r}.")
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise TypeError(f"`cache` must be True, False or a cache file path; received "
                        f"{cache!r}.")

    if isinstance(data, tf.data.Dataset):
        _check_dataset(data)
        dataset = data
        if cache is True:
            dataset = dataset.cache()
        elif cache:
            dataset = dataset.cache(os.fspath(cache))
    else:
        images, labels = _check_arrays(data)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        size = int(dataset.cardinality())
        if isinstance(data, tf.data.Dataset) or size < 1:
            size = SHUFFLE_BUFFER if size < 1 else min(size, SHUFFLE_BUFFER)
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)

    height, width = dataset.element_spec[0].shape[:2]
    if height is None or width is None:  # images of different sizes: resize one by one
        if image_size is None:
            raise ValueError("The images in `data` have different sizes; pass "
                             "`image_size` so they can be batched.")
        dataset = dataset.map(lambda image, label: (_resize(image, image_size), label),
                              num_parallel_calls=AUTOTUNE)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda images, labels: _to_model_input(images, labels, image_size,
                                                                 channels),
                          num_parallel_calls=AUTOTUNE)
    if augment is not None:
        dataset = augment_dataset(dataset, augment)
    return dataset.prefetch(AUTOTUNE)


def augment_dataset(ds, augment):
    """Applies a random augmentation to every batch of a training dataset.

    A new random draw on every pass, so each epoch sees new variants of the
    images (reproducible when the augmentation has a seed). Use it on training
    data only, never on validation or test data.

    Args:
        ds: a batched dataset of `(images, labels)`, pixels in [0, 255].
        augment: a callable such as `build_augmentation()`; Keras layers are
            called with `training=True`.

    Returns:
        The dataset with augmented float32 images (labels untouched).

    Raises:
        TypeError: `ds` is not a `tf.data.Dataset` or `augment` is not callable.

    Example:
    >>> train_ds = augment_dataset(train_ds, build_augmentation(seed=0))
    """
    if not isinstance(ds, tf.data.Dataset):
        raise TypeError(f"`ds` must be a tf.data.Dataset of (images, labels); received "
                        f"{type(ds).__name__}.")
    if not callable(augment):
        raise TypeError(f"`augment` must be a callable such as build_augmentation(); "
                        f"received {type(augment).__name__}.")
    layer = isinstance(augment, keras.layers.Layer)

    def apply(images, labels):
        images = augment(images, training=True) if layer else augment(images)
        return tf.cast(images, tf.float32), labels

    return ds.map(apply, num_parallel_calls=AUTOTUNE)


def _resize(image, image_size):
    if image.shape.rank == 2:
        image = image[..., tf.newaxis]
    return tf.image.resize(image, image_size, method="bilinear")


def _to_model_input(images, labels, image_size, channels):
    """One batch: resize if needed, match the channels, float32 images, int32 labels."""
    if images.shape.rank == 3:  # (batch, height, width): grayscale
        images = images[..., tf.newaxis]
    if image_size is not None and tuple(images.shape[1:3]) != image_size:
        images = tf.image.resize(images, image_size, method="bilinear")
    images = tf.cast(images, tf.float32)
    if channels == 3 and images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    elif channels == 1 and images.shape[-1] == 3:
        images = tf.image.rgb_to_grayscale(images)
    return images, tf.cast(labels, tf.int32)


def dataset_to_arrays(dataset):
    """Collects a dataset of `(images, labels)`, batched or not, into numpy arrays.

    Args:
        dataset: a `tf.data.Dataset` of `(image, label)` elements or batches.

    Returns:
        `(images, labels)` numpy arrays.

    Raises:
        TypeError: `dataset` is not a `tf.data.Dataset`.
        ValueError: the dataset is empty.

    Example:
    >>> images, labels = dataset_to_arrays(prepare((np.zeros((5, 8, 8), np.uint8), range(5))))
    >>> images.shape
    (5, 8, 8, 3)
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` must be a tf.data.Dataset; received "
                        f"{type(dataset).__name__}.")
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError("`dataset` is empty.")
    join = np.stack if np.ndim(labels[0]) == 0 else np.concatenate
    return join(images), join(labels)


# ----------------------------------------------------------------------------
# Fashion-MNIST from every offline source.


def _read_idx(path, ndim):
    """Returns the uint8 array in a gzipped IDX file, checking its header."""
    try:
        with gzip.open(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"Fashion-MNIST file {str(path)!r} is corrupt: not a readable "
                         f"gzip file ({error}). Delete it and run again.") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise ValueError(f"Fashion-MNIST file {str(path)!r} is corrupt: its magic number "
                         f"{data[:4].hex()} is not that of a {ndim}-D IDX file of bytes "
                         f"(0000080{ndim}). Delete it and run again.")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(f"Fashion-MNIST file {str(path)!r} is corrupt: the header says "
                         f"{shape} but it holds {len(data) - header} bytes. Delete it and "
                         f"run again.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _read_fashion_mnist(folder):
    """Returns `(train_images, train_labels, test_images, test_labels)` from a folder."""
    arrays = []
    for labels_file, images_file in (FASHION_MNIST_FILES[:2], FASHION_MNIST_FILES[2:]):
        labels = _read_idx(folder / labels_file, 1).astype(np.int32)
        images = _read_idx(folder / images_file, 3)
        if len(images) != len(labels) or labels.max(initial=0) >= 10:
            raise ValueError(f"{images_file} and {labels_file} in {str(folder)!r} do not "
                             f"match ({len(images)} images, {len(labels)} labels up to "
                             f"{labels.max(initial=0)}). Delete them and run again.")
        arrays += [images, labels]
    return arrays


def _keras_fashion_mnist_dir():
    """Returns Keras's cache folder for Fashion-MNIST; KERAS_HOME set now wins."""
    return _keras_compat.keras_home() / "datasets" / "fashion-mnist"


def _debian_fashion_mnist_dir():
    """Returns where `dpkg -L dataset-fashion-mnist` put the files, else the usual folder."""
    try:
        listing = subprocess.run(["dpkg", "-L", FASHION_MNIST_DEBIAN_PACKAGE], check=True,
                                 capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return FASHION_MNIST_DEBIAN_DIR
    for line in listing.splitlines():
        if line.endswith("/" + FASHION_MNIST_FILES[0]):
            return Path(line).parent
    return FASHION_MNIST_DEBIAN_DIR


def load_fashion_mnist(cache_dir=None, debian_dir=None, download=True):
    """Loads the real Fashion-MNIST (70,000 grayscale 28x28 images, 10 classes).

    Looks, in order, in Keras's cache, in the folder of Debian's
    `dataset-fashion-mnist` package, then asks Keras to download it. The IDX
    files are read and checked here (no network needed for the first two).

    Args:
        cache_dir: the folder holding the four `.gz` files. Defaults to `None`
            (`$KERAS_HOME/datasets/fashion-mnist`, or `~/.keras/...`).
        debian_dir: the Debian package's folder. Defaults to `None` (found with
            `dpkg -L dataset-fashion-mnist`, else `/usr/share/datasets/fashion-mnist`).
        download: try `keras.datasets.fashion_mnist.load_data()` last.
            Defaults to `True`.

    Returns:
        `FashionMNIST(train_images, train_labels, test_images, test_labels,
        class_names, source)`: uint8 `(60000, 28, 28)` and `(10000, 28, 28)` images,
        int32 labels, the 10 class names, and where the data came from.

    Raises:
        FashionMNISTUnavailableError: no source worked; the message lists the fixes.
        ValueError: a file was found but is corrupt (the message names it).

    Example:
    >>> fashion = load_fashion_mnist()
    >>> fashion.train_images.shape, fashion.class_names[0]
    ((60000, 28, 28), 'T-shirt/top')
    """
    keras_dir = Path(cache_dir) if cache_dir is not None else _keras_fashion_mnist_dir()
    debian = Path(debian_dir) if debian_dir is not None else _debian_fashion_mnist_dir()
    tried = []
    for label, folder in [("the Keras cache", keras_dir),
                          (f"Debian's {FASHION_MNIST_DEBIAN_PACKAGE}", debian)]:
        missing = [name for name in FASHION_MNIST_FILES if not (folder / name).is_file()]
        if not missing:
            return FashionMNIST(*_read_fashion_mnist(folder), list(FASHION_MNIST_CLASSES),
                                f"{label}: {folder}")
        tried.append(f"{label} ({folder}): missing {', '.join(missing)}")
    if download:
        try:
            (train_x, train_y), (test_x, test_y) = keras.datasets.fashion_mnist.load_data()
        except Exception as error:  # no network, proxy, disk full, ...
            tried.append(f"Keras download: failed ({type(error).__name__}: {error})")
        else:
            return FashionMNIST(train_x, train_y.astype(np.int32), test_x,
                                test_y.astype(np.int32), list(FASHION_MNIST_CLASSES),
                                "keras.datasets.fashion_mnist.load_data() (download)")
    else:
        tried.append("Keras download: not tried (download=False)")
    raise FashionMNISTUnavailableError(
        "Fashion-MNIST is not available. Tried:\n  - " + "\n  - ".join(tried) + "\n"
        f"Fix it in one of three ways:\n"
        f"  1. Install the Debian package: sudo apt-get install "
        f"{FASHION_MNIST_DEBIAN_PACKAGE} (it puts the files in {FASHION_MNIST_DEBIAN_DIR}).\n"
        f"  2. Copy the four files {', '.join(FASHION_MNIST_FILES)} into {keras_dir} "
        f"(e.g. from another machine's ~/.keras/datasets/fashion-mnist).\n"
        f"  3. Connect to the internet and run again: Keras downloads them from "
        f"{FASHION_MNIST_URL}."
    )


# ----------------------------------------------------------------------------
# Source / target tasks and few-label subsets.


def _class_ids(classes, argument, class_names, present):
    """Returns the label ids of `classes` (ids or names), checking they exist."""
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    ids = []
    for item in classes:
        if isinstance(item, str):
            if class_names is None or item not in list(class_names):
                known = [] if class_names is None else list(map(str, class_names))
                raise ValueError(f"Unknown class {item!r} in `{argument}`. Known names: "
                                 f"{', '.join(known) or 'none'} (pass `class_names` to use "
                                 f"names).")
            item = list(class_names).index(item)
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"`{argument}` must list class ids or names; received {item!r}.")
        if int(item) not in present:
            raise ValueError(f"Class {item!r} in `{argument}` has no images; the labels "
                             f"present are {sorted(present)}.")
        ids.append(int(item))
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"`{argument}` must list one or more distinct classes; received "
                         f"{classes!r}.")
    return ids


def split_classes(images, labels, source_classes, target_classes, class_names=None):
    """Splits a labelled set into two tasks with disjoint classes (source and target).

    Args:
        images: array of images, one per label.
        labels: 1-D integer labels.
        source_classes: class ids (or names, with `class_names`) of the source task.
        target_classes: class ids (or names) of the target task.
        class_names: names of the original labels. Defaults to `None` (the new
            class names are then the original ids as strings).

    Returns:
        `(source, target)`, each a `LabelledImages(images, labels, class_names)`
        whose labels are re-indexed `0..k-1` in the order the classes were given.

    Raises:
        ValueError: empty, repeated, unknown or overlapping classes, or mismatched lengths.

    Example:
    >>> images, labels = np.zeros((6, 4, 4)), np.array([0, 1, 2, 0, 1, 2])
    >>> source, target = split_classes(images, labels, [2, 0], [1])
    >>> source.labels.tolist(), source.class_names
    ([1, 0, 1, 0], ['2', '0'])
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"`labels` must be 1-D with one label per image; received "
                         f"{len(images)} images and labels of shape {labels.shape}.")
    present = set(np.unique(labels).tolist())
    source_ids = _class_ids(source_classes, "source_classes", class_names, present)
    target_ids = _class_ids(target_classes, "target_classes", class_names, present)
    overlap = sorted(set(source_ids) & set(target_ids))
    if overlap:
        raise ValueError(f"`source_classes` and `target_classes` must not overlap; both "
                         f"hold {overlap}. A transfer experiment needs new target classes.")
    tasks = []
    for ids in (source_ids, target_ids):
        mask = np.isin(labels, ids)
        new_label_of = {old: new for new, old in enumerate(ids)}
        new_labels = np.array([new_label_of[old] for old in labels[mask].tolist()], np.int32)
        names = [str(class_names[i]) if class_names is not None else str(i) for i in ids]
        tasks.append(LabelledImages(images[mask], new_labels, names))
    return tuple(tasks)


def sample_per_class(images, labels, n, seed=0):
    """Picks `n` random images of every class: a balanced, few-label training set.

    The same seed picks nested subsets: the 5 per class chosen for `n=5` are
    among the 10 chosen for `n=10`. The result keeps the original order.

    Args:
        images: array of images, one per label.
        labels: 1-D integer labels.
        n: images per class, a positive int.
        seed: the random seed. Defaults to `0`.

    Returns:
        `(images, labels)` with `n` images of each class.

    Raises:
        ValueError: `n` is not a positive int, or a class has fewer than `n` images.

    Example:
    >>> images, labels = sample_per_class(np.zeros((6, 4, 4)), np.array([0, 1] * 3), 2)
    >>> np.bincount(labels).tolist()
    [2, 2]
    """
    n = _check_positive_int(n, "n")
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"`labels` must be 1-D with one label per image; received "
                         f"{len(images)} images and labels of shape {labels.shape}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        if len(indices) < n:
            raise ValueError(f"Class {label} has only {len(indices)} image(s), fewer than "
                             f"n={n}. Use n <= {len(indices)} or add images.")
        chosen.append(rng.permutation(indices)[:n])
    chosen = np.sort(np.concatenate(chosen))
    return images[chosen], labels[chosen]


# ----------------------------------------------------------------------------
# Arrays -> an image folder.


def _folder_name(class_name):
    """Returns a class name that is safe as a folder name ("T-shirt/top" -> "T-shirt_top")."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", str(class_name)).strip(" .")


def export_image_folder(images, labels, class_names, path, per_class=None, format="png",
                        overwrite=False):
    """Writes images as `path/<class_name>/<index>.<format>`, ready for `load_image_folder`.

    The folder is written next to `path` under a temporary name, then renamed, so
    a failure leaves no half-written folder. Class names are made safe as folder
    names (`"T-shirt/top"` -> `"T-shirt_top"`).

    Args:
        images: uint8 (or float in [0, 255]) images `(n, h, w)`, `(n, h, w, 1)` or
            `(n, h, w, 3)`.
        labels: 1-D integer labels in `0..len(class_names)-1`.
        class_names: the name of each label.
        path: the folder to create.
        per_class: write at most this many images of each class (the first ones).
            Defaults to `None` (all).
        format: `"png"`, `"jpeg"` or `"bmp"`. Defaults to `"png"`.
        overwrite: replace an existing non-empty folder. Defaults to `False`.

    Returns:
        The `Path` of the folder.

    Raises:
        FileExistsError: `path` is a non-empty folder and `overwrite` is False, or a file.
        ValueError: bad shapes, labels, `per_class`, `format`, or class names that
            collide once made safe.

    Example:
    >>> export_image_folder(np.zeros((4, 28, 28), np.uint8), [0, 1, 0, 1],
    ...                     ["T-shirt/top", "Trouser"], "fashion_folder")
    PosixPath('fashion_folder')
    """
    images, labels = _check_arrays((images, labels))
    formats = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "bmp": "BMP"}
    if str(format).lower() not in formats:
        raise ValueError(f"`format` must be one of {', '.join(formats)}; received {format!r}.")
    per_class = None if per_class is None else _check_positive_int(per_class, "per_class")
    folder_names = [_folder_name(name) or f"class_{i}" for i, name in enumerate(class_names)]
    if len(set(folder_names)) != len(folder_names):
        raise ValueError(f"`class_names` {list(class_names)} give repeated folder names "
                         f"{folder_names}; make them distinct.")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"`labels` must be in 0..{len(class_names) - 1} (one per class "
                         f"name); received values from {labels.min()} to {labels.max()}.")
    target = Path(path).expanduser()
    if target.is_file() or (target.is_dir() and any(target.iterdir()) and not overwrite):
        raise FileExistsError(f"`path` {str(target)!r} already exists and is not an empty "
                              f"folder. Choose another path or pass overwrite=True.")

    target.parent.mkdir(parents=True, exist_ok=True)
    extension = str(format).lower()
    pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    if pixels.ndim == 4 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    digits = len(str(len(pixels) - 1))
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for label, folder_name in enumerate(folder_names):
            (staging / folder_name).mkdir()
            indices = np.flatnonzero(labels == label)[:per_class]
            for index in indices:
                Image.fromarray(pixels[index]).save(
                    staging / folder_name / f"{index:0{digits}d}.{extension}",
                    formats[extension])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():  # an empty folder, or overwrite=True: swap, then delete the old one
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        target.rename(old / target.name)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)
    return target
