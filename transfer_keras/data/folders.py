"""Image folders: scan, validate, load and report; arrays written back as a folder.

- `load_image_folder`: a folder of photos -> checked, resized uint8 arrays and
  `tf.data` datasets, with a `DataReport` of what was loaded, skipped and duplicated.
- `load_image`: one file, read exactly as `load_image_folder` reads it.
- `export_image_folder`: arrays -> `path/<class_name>/<index>.png`.
"""

import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from transfer_keras._checks import (
    check_choice,
    check_fraction,
    check_image_size,
    check_seed,
    check_whole_number,
)
from transfer_keras._table import Table
from transfer_keras.data.pipelines import (
    AUTOTUNE,
    DataWarning,
    RecordArray,
    RecordFile,
    _check_arrays,
    _map_to_model_input,
)
from transfer_keras.errors import ResourceUnavailableError

TRAIN_FOLDER = "train"
HELD_OUT_FOLDERS = ("val", "valid", "validation", "test")  # in order of preference
TEST_FOLDER = "test"
TRAIN_TEST_LAYOUT = "train and test folders"  # train/ and test/, no validation folder
SPLIT_FOLDER_NAMES = (TRAIN_FOLDER, *HELD_OUT_FOLDERS)  # they mark split folders, not classes

# Safety limits of the folder scan: larger files and images are skipped with the reason.
MAX_FILE_BYTES = 1 << 30  # 1 GiB: no photo is that big; a link to a device would never end
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's own limit (about 89 megapixels)
# Decoded pixels up to this size stay in memory; larger folders stream (`mode="auto"`).
STREAMING_THRESHOLD_BYTES = 256 * 2**20  # about 1,700 photos at 224x224
SCAN_WORKERS = min(8, os.cpu_count() or 1)  # threads that decode files in parallel
ORIENTATION_TAG = 0x0112  # the EXIF tag that says how to turn a photo upright
LOAD_MODES = ("auto", "memory", "streaming")
MODE_DESCRIPTIONS = {
    "memory": "the decoded images are held in memory",
    "streaming": "the decoded images wait in a temporary file, read batch by batch",
}


class ImageRecord(NamedTuple):
    """One loaded image file: where it is, which split and which class it went to."""

    path: Path
    split: str
    class_name: str


class _ImageFolderParts(NamedTuple):
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    class_names: list
    report: "DataReport"


class ImageFolderData(_ImageFolderParts):
    """What `load_image_folder` returns: `train_ds, val_ds, class_names, report = ...`.

    `val_ds` is None without a validation part. `test_ds` (an attribute, not
    part of the unpacking) holds a `test/` folder that sits beside `train/`; it
    is None otherwise. Score it only once, at the end:
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
# Image folders.


class DataReport:
    """What `load_image_folder` found: counts, skipped files, duplicates, warnings.

    Attributes:
        root: the folder that was read.
        layout: `"class folders"` (`root/<class>/`), `"split folders"` (`root/train/`,
            a validation folder, maybe `root/test/`) or `"train and test folders"`.
        class_names: sorted class names; label `i` is `class_names[i]`.
        image_size: `(height, width)` of the loaded arrays.
        counts: `{split: {class_name: number of images}}`, splits `"train"`, `"val"`
            and, for a train/val/test folder, `"test"`.
        skipped: list of `(path, reason)` for every file or folder not loaded.
        duplicates: list of groups of identical files, each a list of `ImageRecord`s.
        warnings: the data problems worth a look, as sentences.
        mode: `"memory"` (the decoded pixels are held in memory) or `"streaming"`
            (they wait in a temporary file); either way the datasets read them
            batch by batch.
        train_images, train_labels, train_paths: uint8 `(n, h, w, 3)` images, int32
            labels and the file of each image. `val_*` and `test_*` likewise (None /
            [] without that part). Each access to `*_images` reads the whole part
            into a new array (changing it changes nothing else).
    """

    def __init__(self, root, image_size):
        self.root = Path(root)
        self.image_size = image_size
        self.layout = None
        self.mode = None
        self.class_names = []
        self.counts = {}
        self.skipped = []
        self.duplicates = []
        self.warnings = []
        self._pixels = None  # every decoded image: a RecordArray or a RecordFile
        self._records = {}  # split -> the record numbers of its images in self._pixels
        self.train_labels = self.val_labels = self.test_labels = None
        self.train_paths, self.val_paths, self.test_paths = [], [], []

    def _split_images(self, split):
        if split not in self._records:
            return None
        return self._pixels.read(self._records[split])

    train_images = property(lambda self: self._split_images("train"))
    val_images = property(lambda self: self._split_images("val"))
    test_images = property(lambda self: self._split_images("test"))

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
        if self.mode:
            notes.append(f"Mode: {self.mode} ({MODE_DESCRIPTIONS[self.mode]})")
        height, width = self.image_size
        title = (f"{self.root} ({self.layout}): {self.num_images} images, "
                 f"{len(self.class_names)} classes, resized to {height}x{width}")
        return Table(["class", *splits, "total"], rows, title=title, notes=notes)

    def to_dict(self):
        """Returns the report as plain Python data (no arrays)."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "mode": self.mode,
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
    """Converts any Pillow mode to RGB; transparent pixels become white.

    16-bit grayscale is divided by 257 (65535 -> 255). 32-bit integer and
    floating-point grayscale (TIFF modes "I" and "F") have no fixed range, so
    their brightest value decides it: at most 1, fractions of white (x 255);
    at most 255, 8-bit values; at most 65535, 16-bit values (/ 257); above,
    scaled so that it becomes white. Negative, infinite and NaN values become black.
    """
    if image.mode.startswith("I;16"):
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    elif image.mode in ("I", "F"):
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0, posinf=0, neginf=0)
        top = pixels.max(initial=0.0)
        if top <= 1:
            pixels = pixels * 255.0
        elif top > 65535:
            pixels = pixels / top * 255.0
        elif top > 255:
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


class _ImageTooLarge(ValueError):
    """An image whose decoded pixels would exceed `MAX_IMAGE_PIXELS`."""


def _decode_image(data, image_size):
    """Returns the file bytes `data` as a uint8 `(height, width, 3)` array.

    The image is turned upright (EXIF orientation), converted to RGB and resized
    to `image_size` with bilinear filtering, squashing it like Keras's
    `image_dataset_from_directory` (no crop, no padding). JPEGs are first
    decoded at a reduced scale (`Image.draft`) when they are much larger.
    Images of more than `MAX_IMAGE_PIXELS` pixels raise `_ImageTooLarge`
    before any pixel is decoded.
    """
    height, width = image_size
    with Image.open(io.BytesIO(data)) as image:  # GIF, TIFF, WEBP: the first frame
        pixels = image.size[0] * image.size[1]
        if pixels > MAX_IMAGE_PIXELS:
            raise _ImageTooLarge(
                f"image too large ({image.size[0]}x{image.size[1]} = {pixels:,} pixels; the "
                f"limit is {MAX_IMAGE_PIXELS:,}, folders.MAX_IMAGE_PIXELS); not decoded")
        if image.format == "JPEG":
            side = max(height, width)  # square, so EXIF rotation cannot make it too small
            image.draft("RGB", (side, side))
        image.load()  # raises for truncated or corrupt files
        if image.getexif().get(ORIENTATION_TAG, 1) not in (0, 1):  # else upright already
            image = ImageOps.exif_transpose(image)
        if image.mode != "RGB" or "transparency" in image.info:  # else RGB already
            image = _to_rgb(image)
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
    >>> pixels = load_image("bee.jpg", 128)  # for a model with 128 x 128 inputs
    >>> model.predict(pixels[None], verbose=0).shape  # P(ants), P(bees)
    (1, 2)
    """
    path = Path(path).expanduser()
    if not (path.exists() or path.is_symlink()):
        raise ValueError(f"`path` {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise ValueError(f"`path` {str(path)!r} is a folder, not a file; give an image file "
                         f"(load_image_folder reads folders).")
    _, pixels, reason = read_image(path, check_image_size(image_size))
    if reason:
        raise ValueError(f"`path` {str(path)!r} cannot be used: {reason}.")
    return pixels


def _unreadable_reason(path):
    """Why `path` cannot be read as an image file, or None for a regular file.

    Checked before opening: reading a FIFO would wait forever and a link to
    a device such as /dev/zero would never end, so only regular files (or
    links to them) are read, and only up to `MAX_FILE_BYTES`.
    """
    try:
        info = os.stat(path)  # follows links
    except FileNotFoundError:
        if os.path.islink(path):
            return f"broken link (its target {os.readlink(path)!r} does not exist)"
        return "the file disappeared while the folder was read"
    except OSError as error:
        return f"cannot read the file ({error.strerror or error})"
    if not stat.S_ISREG(info.st_mode):
        kinds = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
        kind = next((name for test, name in kinds if test(info.st_mode)), "a special file")
        link = " the link points to" if os.path.islink(path) else ""
        return f"not a regular file ({'it is' if not link else link} {kind}); not read"
    if info.st_size > MAX_FILE_BYTES:
        return (f"file too large ({info.st_size / 2**20:,.0f} MB; the limit is "
                f"{MAX_FILE_BYTES / 2**20:,.0f} MB, folders.MAX_FILE_BYTES)")
    return None


def read_image(path, image_size):
    """Returns `(sha256, pixels, None)` for a usable image, else `(None, None, reason)`."""
    reason = _unreadable_reason(path)
    if reason:
        return None, None, reason
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return None, None, f"cannot read the file ({error.strerror or error})"
    if not data:
        return None, None, "empty file (0 bytes)"
    try:
        return hashlib.sha256(data).hexdigest(), _decode_image(data, image_size), None
    except _ImageTooLarge as error:
        return None, None, str(error)
    except Image.DecompressionBombError as error:  # Pillow's own check, at twice the limit
        return None, None, f"image too large ({error})"
    except UnidentifiedImageError:
        return None, None, "not an image (Pillow cannot identify the format)"
    except Exception as error:  # Pillow raises many types for broken files
        return None, None, f"corrupt or truncated image ({type(error).__name__}: {error})"


def _read_images(paths, image_size):
    """Yields `read_image(path, image_size)` for each path, in order, decoding
    `SCAN_WORKERS` files at a time (Pillow releases the GIL while it decodes).

    At most a few results wait to be consumed, so memory stays bounded.
    """
    paths = list(paths)
    if SCAN_WORKERS <= 1 or len(paths) < 2:
        yield from (read_image(path, image_size) for path in paths)
        return
    with ThreadPoolExecutor(SCAN_WORKERS) as pool:
        pending = deque()
        for path in paths:
            pending.append(pool.submit(read_image, path, image_size))
            if len(pending) >= 4 * SCAN_WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _list_files(folder, skipped, visited=None):
    """Returns the non-hidden files under `folder`, recursively and sorted.

    Hidden files and folders (name starts with '.') and folders that cannot be
    listed are added to `skipped` with the reason. Links to folders are
    followed, each real folder once: a folder already read (a link loop, or a
    second link to the same folder) is skipped with the reason. Links to files,
    broken links, FIFOs and the like are returned: `read_image` says why it
    skips them.
    """
    folder = Path(folder)
    visited = {} if visited is None else visited
    visited.setdefault(os.path.realpath(folder), folder)
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as error:
        skipped.append((folder, f"cannot read the folder ({error.strerror or error}); "
                                f"its images are not loaded"))
        return []
    folders, files = [], []
    for entry in entries:
        (folders if _is_folder(entry) else files).append(Path(entry.path))
    for path in folders:
        if path.name.startswith("."):
            skipped.append((path, "hidden folder (name starts with '.'); not read"))
    result = []
    for path in files:
        if path.name.startswith("."):
            skipped.append((path, "hidden file (name starts with '.')"))
        else:
            result.append(path)
    for path in folders:
        if path.name.startswith("."):
            continue
        real = os.path.realpath(path)
        if real in visited:
            skipped.append((path, f"link to a folder already read ({visited[real]}): a "
                                  f"link loop or a second link to it; not read again"))
            continue
        visited[real] = path
        result += _list_files(path, skipped, visited)
    return result


def list_files(folder):
    """Lists the files under `folder` as `load_image_folder` reads them.

    Returns:
        `(files, skipped)`: the non-hidden files, sorted (links to folders
        followed, each real folder once), and `(path, reason)` pairs for what
        was not listed (hidden entries, unreadable folders, link loops).
        Broken links, FIFOs and devices are listed: `load_image` says why it
        cannot read them.
    """
    skipped = []
    files = _list_files(folder, skipped)
    return files, skipped


def _is_folder(entry):
    """True for a folder or a link to one (False for a broken link)."""
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


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
        digest, _, reason = read_image(path, image_size)
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


class _ClassFolder(NamedTuple):
    """A class folder of one split, listed: its files and what the listing skipped."""

    split: str
    name: str
    folder: Path
    files: list
    skipped: list


def _class_name(class_folder):
    """The class name of a class folder: its name in the NFC form of Unicode.

    macOS writes accented names decomposed (NFD: "e" + accent) where Linux keeps
    them as typed (usually NFC: "é"): both forms give the same class.
    """
    name = class_folder.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 (Python keeps them as surrogates)
        raw = os.fsencode(name)
        raise ValueError(
            f"Class folder {raw!r} in {str(class_folder.parent)!r} has a name that is not "
            f"UTF-8 text, and class names go into reports, plots and saved models. Rename "
            f"the folder (read as Latin-1 its name is {raw.decode('latin-1')!r})."
        ) from None
    return unicodedata.normalize("NFC", name)


def _list_classes(split, folder, image_size, report):
    """Lists `folder/<class>/**` of one split (no image is decoded yet)."""
    class_folders, loose_files = _visible_entries(folder, report)
    _check_loose_files(folder, loose_files, image_size, report)
    listed, named = [], {}
    for class_folder in class_folders:
        name = _class_name(class_folder)
        if name in named:
            raise ValueError(
                f"Class folders {ascii(named[name].name)} and {ascii(class_folder.name)} in "
                f"{str(folder)!r} have the same name written in two Unicode forms (one "
                f"decomposed, as macOS writes accents), so they would be one class. Move "
                f"the images of one into the other and remove it."
            )
        named[name] = class_folder
        skipped_here = []
        files = _list_files(class_folder, skipped_here)
        if not files and skipped_here and skipped_here[0][0] == class_folder:
            raise ValueError(
                f"Class folder {class_folder.name!r} ({class_folder}) cannot be read: "
                f"{skipped_here[0][1].split(';')[0]}. Give this user read access to it "
                f"(e.g. chmod -R u+rX) or remove the folder."
            )
        if not files and not skipped_here:
            raise ValueError(
                f"Class folder {class_folder.name!r} ({class_folder}) has no usable image: "
                f"it is empty. Add images to it or remove the folder."
            )
        listed.append(_ClassFolder(split, name, class_folder, files, skipped_here))
    return listed


def _scan_classes(listed, image_size, report, pixels):
    """Reads the listed class folders into `{split: {class_name: [(path, sha256, record)]}}`.

    Every file is decoded (in parallel), which checks it and gives its hash.
    Its pixels go to `pixels` (a `RecordArray` or `RecordFile`) and the entry
    holds their record number.
    """
    results = _read_images((path for c in listed for path in c.files), image_size)
    scans = {}
    for class_folder in listed:
        skipped_here = list(class_folder.skipped)
        images = []
        for path in class_folder.files:
            digest, decoded, reason = next(results)
            if digest is None:
                skipped_here.append((path, reason))
            else:
                images.append((path, digest, pixels.append(decoded)))
        report.skipped += skipped_here
        if not images:
            why = "; ".join(f"{path.name}: {reason}" for path, reason in skipped_here[:10])
            raise ValueError(
                f"Class folder {class_folder.name!r} ({class_folder.folder}) has no usable "
                f"image{' (' + why + ')' if why else ': it is empty'}. Add images to it or "
                f"remove the folder."
            )
        scans.setdefault(class_folder.split, {})[class_folder.name] = images
    return scans


def _find_splits(root, report):
    """Returns the split folders of the layout: `{"train": folder}`, plus `"val"`
    (a validation folder), plus `"test"` (a `test/` folder).

    `train/` with `test/` alone (a common layout of downloaded datasets) has no
    validation folder: test/ stays the test part, never used for early
    stopping, and `validation_split` may hold out part of train/ instead."""
    subfolders, _ = _visible_entries(root)
    names = {folder.name.lower(): folder for folder in subfolders}
    split_names = [name for name in names if name in (TRAIN_FOLDER, *HELD_OUT_FOLDERS)]
    for name in split_names:  # split names ignore case: train/ and Train/ would clash
        same = [folder.name for folder in subfolders if folder.name.lower() == name]
        if len(same) > 1:
            raise ValueError(
                f"Folders {' and '.join(repr(n) for n in same)} in {str(root)!r} name the "
                f"same split (split folder names ignore case), so it is unclear which to "
                f"read. Merge them into one folder, or rename or remove the others.")
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
            f"and root/val/<class_name>/...; 'valid' or 'validation' also name the "
            f"validation part, and test/ the test part), not a mix, and not train/ alone."
        )
    if held_out == [TEST_FOLDER]:
        report.layout = TRAIN_TEST_LAYOUT
        return {"train": names[TRAIN_FOLDER], "test": names[TEST_FOLDER]}
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


def class_folders_named_like_splits(folder):
    """Sub-folders named like a split (train, val, ...) that hold files directly:
    meant as classes, but read as split folders. Sorted names; [] if unreadable."""
    try:
        return sorted(sub.name for sub in Path(folder).iterdir()
                      if sub.is_dir() and sub.name.lower() in SPLIT_FOLDER_NAMES
                      and any(entry.is_file() for entry in sub.iterdir()))
    except OSError:
        return []


def folder_layout(path):
    """How `load_image_folder` reads `path`: `"class folders"` (`root/<class>/`),
    `"split folders"` (`root/train/` and a validation folder, maybe `root/test/`)
    or `"train and test folders"` (`root/train/` and `root/test/` alone).

    Looks at the folder names only (no image is read), so a caller can choose
    `validation_split` first: split folders bring their own validation part;
    the other two layouts need `validation_split` for one.

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
                      shuffle=True, mode="auto", cache_dir=None):
    """Loads a folder of images, one sub-folder per class, into checked datasets.

    Three layouts are understood: `root/<class_name>/<image>` (optionally split
    with `validation_split`, stratified per class); `root/train/<class_name>/...`
    plus `root/val/<class_name>/...` ('valid' or 'validation' also work) and
    optionally `root/test/<class_name>/...`; and `root/train/` plus `root/test/`
    alone, where test/ is the test part (`test_ds`) and `validation_split`, if
    given, holds out part of train/ for validation. `report.layout` says which.
    Images in nested, non-hidden sub-folders of a class folder belong to that
    class; links to folders are followed (each real folder read once).

    Every file is decoded once with Pillow (several files at a time, in
    threads), turned upright (EXIF), converted to RGB (grayscale, palette and
    CMYK converted; transparent pixels become white) and resized to
    `image_size` (bilinear, squashed). Files that are not images, are corrupt
    or truncated, are not regular files (FIFOs, devices, broken links), are
    larger than `MAX_FILE_BYTES` or `MAX_IMAGE_PIXELS`, hidden files and
    folders, and folders that cannot be read are skipped and listed in the
    report with the reason. Identical files are reported (all kept); identical
    files across train/validation or across classes also raise a
    `DataWarning`. Nothing in the folder is moved, written or deleted.

    Small folders are held in memory. Larger ones stream: the decoded pixels
    go to a temporary file (deleted automatically) and the datasets read it
    batch by batch, so memory stays flat whatever the folder size; the images
    are exactly the same. `report.mode` says which was used.

    Args:
        path: the root folder.
        image_size: an int or `(height, width)` to resize every image to.
        batch_size: images per batch. Defaults to `32`.
        validation_split: fraction in (0, 1) of each class held out for
            validation, from the class folders or from train/ (not with a
            validation folder). Defaults to `None` (no split).
        seed: seed of the validation split and of the training shuffle.
            Defaults to `0`.
        shuffle: reshuffle the training set every epoch. Defaults to `True`.
        mode: `"memory"`, `"streaming"` or `"auto"`: stream when the decoded
            images would take more than `STREAMING_THRESHOLD_BYTES` (256 MB,
            about 1,700 photos at 224 px). Defaults to `"auto"`.
        cache_dir: the folder of the temporary file in streaming mode (it needs
            `height * width * 3` bytes per image). Defaults to `None` (the
            system's temporary folder).

    Returns:
        `ImageFolderData(train_ds, val_ds, class_names, report)`. The datasets
        yield `(float32 images (b, h, w, 3) in [0, 255], int32 labels)`; `val_ds`
        is None without a validation part. `report` is a `DataReport`, which also
        holds the uint8 arrays and file paths (`report.arrays()`, `report.train_paths`).

    Raises:
        ValueError: missing or empty folder, images outside class folders, a class
            folder that is unreadable or has no usable image, fewer than two
            classes, an unknown layout, a validation class absent from train, a
            bad `validation_split` or `mode`.
        ResourceUnavailableError: streaming, and `cache_dir` lacks the disk space.

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
    image_size = check_image_size(image_size)
    batch_size = check_whole_number(batch_size, "batch_size")
    if validation_split is not None:
        check_fraction(validation_split, "validation_split", "(0, 1)", what="a fraction",
                       hint="Use e.g. 0.2, or None for no split.")
    mode = check_choice(mode, "mode", LOAD_MODES)
    seed = check_seed(seed)
    if not isinstance(shuffle, bool):
        raise TypeError(f"`shuffle` must be True or False; received {shuffle!r}.")
    cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
    if cache_dir is not None and not cache_dir.is_dir():
        raise ValueError(f"`cache_dir` {str(cache_dir)!r} is not a folder; pass an existing "
                         f"folder for the temporary file, or None.")

    report = DataReport(root, image_size)
    if not any(not entry.name.startswith(".") for entry in root.iterdir()):
        raise ValueError(
            f"Folder {str(root)!r} is empty (or holds only hidden files). Expected one "
            f"sub-folder per class: {root}/<class_name>/<image>."
        )
    split_folders = _find_splits(root, report)
    if report.layout != "class folders":
        _check_loose_files(root, _visible_entries(root, report)[1], image_size, report)
    if "val" in split_folders and validation_split is not None:
        raise ValueError(
            f"`validation_split`={validation_split} cannot be used with {str(root)!r}: it "
            f"already has a held-out folder ({split_folders['val'].name}/). Pass "
            f"validation_split=None."
        )
    listed = [class_folder for split, folder in split_folders.items()
              for class_folder in _list_classes(split, folder, image_size, report)]
    num_files = sum(len(class_folder.files) for class_folder in listed)
    report.mode = _choose_mode(mode, num_files, image_size)
    if report.mode == "streaming":
        report._pixels = _new_pixel_file(image_size, num_files, cache_dir)
    else:
        report._pixels = RecordArray((*image_size, 3), np.uint8, capacity=num_files)
    scans = _scan_classes(listed, image_size, report, report._pixels)
    scans = {split: scans.get(split, {}) for split in split_folders}
    if validation_split is not None:
        scans["train"], scans["val"] = _stratified_split(scans["train"], validation_split, seed)
        scans = {split: scans[split] for split in ("train", "val", "test") if split in scans}

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
        numbers, labels, paths = [], [], []
        for label, name in enumerate(class_names):
            for file_path, digest, number in scan.get(name, []):
                numbers.append(number)
                labels.append(label)
                paths.append(file_path)
                records.append((digest, ImageRecord(file_path, split, name)))
        report._records[split] = np.array(numbers, dtype=np.int64)
        setattr(report, f"{split}_labels", np.array(labels, dtype=np.int32))
        setattr(report, f"{split}_paths", paths)
        report.counts[split] = {name: len(scan.get(name, [])) for name in class_names}
    _check_duplicates(records, report)
    for text in report.warnings:
        warnings.warn(text, DataWarning, stacklevel=2)

    datasets = {split: _split_dataset(report, split, batch_size,
                                      shuffle=shuffle and split == "train", seed=seed)
                for split in ("train", "val", "test")}
    return ImageFolderData(datasets["train"], datasets["val"], class_names, report,
                           datasets["test"])


def _choose_mode(mode, num_files, image_size):
    """`"memory"` or `"streaming"`: `mode`, or for "auto" the size of the decoded pixels."""
    if mode != "auto":
        return mode
    height, width = image_size
    decoded_bytes = num_files * height * width * 3
    return "streaming" if decoded_bytes > STREAMING_THRESHOLD_BYTES else "memory"


def _new_pixel_file(image_size, num_files, cache_dir):
    """The temporary file of a streaming load, after checking the disk has room for it."""
    height, width = image_size
    needed = num_files * height * width * 3
    folder = cache_dir if cache_dir is not None else tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ResourceUnavailableError(
            f"Streaming {num_files} images at {height}x{width} needs about "
            f"{needed / 2**20:,.0f} MB of temporary disk space in {folder}, which has "
            f"{free / 2**20:,.0f} MB free. Pass cache_dir= a folder on a larger disk, a "
            f"smaller image_size, or mode='memory' if the images fit in memory."
        )
    return RecordFile((height, width, 3), np.uint8, folder=cache_dir)


def _split_dataset(report, split, batch_size, shuffle, seed):
    """The batches of one split, read from the decoded pixels batch by batch.

    Only the record numbers are shuffled and batched; each batch of pixels is
    then read at once, from memory or from the temporary file. Both modes give
    the same batches in the same order: the order `prepare` gives the arrays.
    """
    labels = getattr(report, f"{split}_labels")
    if labels is None:
        return None
    dataset = report._pixels.dataset(report._records[split], labels, batch_size,
                                     shuffle=shuffle, seed=seed)
    return _map_to_model_input(dataset).prefetch(AUTOTUNE)


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
    per_class = None if per_class is None else check_whole_number(per_class, "per_class")
    folder_names = [_folder_name(name) or f"class_{i}" for i, name in enumerate(class_names)]
    if len(set(folder_names)) != len(folder_names):
        raise ValueError(f"`class_names` {list(class_names)} give repeated folder names "
                         f"{folder_names}; make them distinct.")
    split_like = [name for name in folder_names if name.lower() in SPLIT_FOLDER_NAMES]
    if split_like:
        raise ValueError(f"`class_names` {split_like} would be read back as split folders "
                         f"(train/, val/, ...), not classes, by load_image_folder. Rename "
                         f"them (e.g. 'train_set').")
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
