"""Image folders: find the layout, list, check and load the images into datasets.

- `load_image_folder`: a folder of photos -> checked, resized uint8 images (in
  memory, or streamed from a temporary file for large folders) and `tf.data`
  datasets, with a `DataReport` (see `report.py`) of what was loaded, skipped
  and duplicated. Decoding one file is `images.py`'s job.
- `folder_layout`: which of the three layouts a folder has, from its names only.
- `list_files`, `class_folders_named_like_splits`: the listing rules, for the CLI.
"""

import os
import shutil
import tempfile
import unicodedata
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from transfer_keras._checks import (
    check_choice,
    check_fraction,
    check_image_size,
    check_seed,
    check_whole_number,
)
from transfer_keras.data.images import read_image, read_images
from transfer_keras.data.pipelines import (
    AUTOTUNE,
    DataWarning,
    RecordArray,
    RecordFile,
    map_to_model_input,
)
from transfer_keras.data.report import (
    DataReport,
    ImageFolderData,
    ImageRecord,
    find_duplicates,
)
from transfer_keras.errors import (
    ArgumentTypeError,
    ArgumentValueError,
    ResourceUnavailableError,
)

TRAIN_FOLDER = "train"
HELD_OUT_FOLDERS = ("val", "valid", "validation", "test")  # in order of preference
TEST_FOLDER = "test"
CLASS_FOLDERS_LAYOUT = "class folders"  # root/<class>/
SPLIT_FOLDERS_LAYOUT = "split folders"  # root/train/ and a validation folder
TRAIN_TEST_LAYOUT = "train and test folders"  # train/ and test/, no validation folder
SPLIT_FOLDER_NAMES = (TRAIN_FOLDER, *HELD_OUT_FOLDERS)  # they mark split folders, not classes

# Decoded pixels up to this size stay in memory; larger folders stream (`mode="auto"`).
STREAMING_THRESHOLD_BYTES = 256 * 2**20  # about 1,700 photos at 224x224
LOAD_MODES = ("auto", "memory", "streaming")


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

    Args:
        folder: the folder to list (recursively).

    Returns:
        `(files, skipped)`: the non-hidden files, sorted (links to folders
        followed, each real folder once), and `(path, reason)` pairs for what
        was not listed (hidden entries, unreadable folders, link loops).
        Broken links, FIFOs and devices are listed: `load_image` says why it
        cannot read them.

    Example:
    >>> files, skipped = list_files("photos/cats")
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


def _visible_entries(folder, skipped=None):
    """Returns the non-hidden sub-folders and files of `folder`; adds hidden ones to `skipped`."""
    subfolders, files = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            if skipped is not None:
                kind = "folder" if entry.is_dir() else "file"
                skipped.append((entry, f"hidden {kind} (name starts with '.'); not read"))
        else:
            (subfolders if entry.is_dir() else files).append(entry)
    return subfolders, files


def _check_loose_files(folder, files, image_size, skipped):
    """Files outside class folders: images are an error, other files are reported."""
    loose_images = []
    for path in files:
        digest, _, reason = read_image(path, image_size)
        if digest is not None:
            loose_images.append(path.name)
        else:
            skipped.append((path, f"not in a class folder; {reason}"))
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


def _list_classes(split, folder, image_size, skipped):
    """Lists `folder/<class>/**` of one split (no image is decoded yet)."""
    class_folders, loose_files = _visible_entries(folder, skipped)
    _check_loose_files(folder, loose_files, image_size, skipped)
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


def _scan_classes(listed, image_size, skipped, pixels):
    """Reads the listed class folders into `{split: {class_name: [(path, sha256, record)]}}`.

    Every file is decoded (in parallel), which checks it and gives its hash.
    Its pixels go to `pixels` (a `RecordArray` or `RecordFile`) and the entry
    holds their record number.
    """
    results = read_images((path for c in listed for path in c.files), image_size)
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
        skipped += skipped_here
        if not images:
            why = "; ".join(f"{path.name}: {reason}" for path, reason in skipped_here[:10])
            raise ValueError(
                f"Class folder {class_folder.name!r} ({class_folder.folder}) has no usable "
                f"image{' (' + why + ')' if why else ': it is empty'}. Add images to it or "
                f"remove the folder."
            )
        scans.setdefault(class_folder.split, {})[class_folder.name] = images
    return scans


def _find_splits(root, skipped):
    """Returns `(layout, split folders)`: `{"train": folder}`, plus `"val"` (a
    validation folder), plus `"test"` (a `test/` folder). Held-out folders not
    loaded are added to `skipped`.

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
        return CLASS_FOLDERS_LAYOUT, {"train": root}
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
        return TRAIN_TEST_LAYOUT, {"train": names[TRAIN_FOLDER], "test": names[TEST_FOLDER]}
    splits = {"train": names[TRAIN_FOLDER], "val": names[held_out[0]]}
    rest = held_out[1:]
    if TEST_FOLDER in rest:
        splits["test"] = names[TEST_FOLDER]
        rest.remove(TEST_FOLDER)
    for extra in rest:
        skipped.append((names[extra], f"held-out folder not loaded: "
                               f"{names[held_out[0]].name!r} is the validation part. Load "
                               f"it alone with load_image_folder({str(names[extra])!r}, ...)"))
    return SPLIT_FOLDERS_LAYOUT, splits


def class_folders_named_like_splits(folder):
    """Names the sub-folders that look like classes but will be read as splits.

    A sub-folder named like a split (train, val, ...) that holds files directly
    was meant as a class, but `load_image_folder` reads it as a split folder.

    Args:
        folder: the folder to look in.

    Returns:
        Their names, sorted; `[]` if there are none or `folder` cannot be read.

    Example (a class named "test" beside a class "cats"):
    >>> for name in ("photos/test/1.jpg", "photos/cats/1.jpg"):
    ...     Path(name).parent.mkdir(parents=True, exist_ok=True)
    ...     Path(name).touch()
    >>> class_folders_named_like_splits("photos")
    ['test']
    """
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
    layout, _ = _find_splits(Path(path).expanduser(), [])
    return layout


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


def _check_held_out_classes(scan, folder, train_folder, class_names, warned):
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
        warned.append(f"Class(es) {', '.join(missing)} have no images in "
                      f"{folder.name}/; their scores there cannot be measured.")


def load_image_folder(path, image_size, *, batch_size=32, validation_split=None, seed=0,
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
        raise ArgumentValueError(
            f"`path` {str(path)!r} does not exist. Check the spelling and "
            f"the current folder ({os.getcwd()}).", argument="path")
    if not root.is_dir():
        raise ArgumentValueError(
            f"`path` {str(path)!r} is a file; pass the folder that holds "
            f"one sub-folder per class.", argument="path")
    image_size = check_image_size(image_size)
    batch_size = check_whole_number(batch_size, "batch_size")
    if validation_split is not None:
        check_fraction(validation_split, "validation_split", "(0, 1)", what="a fraction",
                       hint="Use e.g. 0.2, or None for no split.")
    mode = check_choice(mode, "mode", LOAD_MODES)
    seed = check_seed(seed)
    if not isinstance(shuffle, bool):
        raise ArgumentTypeError(
            f"`shuffle` must be True or False; received {shuffle!r}.", argument="shuffle")
    cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
    if cache_dir is not None and not cache_dir.is_dir():
        raise ArgumentValueError(
            f"`cache_dir` {str(cache_dir)!r} is not a folder; pass an existing "
            f"folder for the temporary file, or None.", argument="cache_dir")

    if not any(not entry.name.startswith(".") for entry in root.iterdir()):
        raise ValueError(
            f"Folder {str(root)!r} is empty (or holds only hidden files). Expected one "
            f"sub-folder per class: {root}/<class_name>/<image>."
        )
    skipped, found_warnings = [], []
    layout, split_folders = _find_splits(root, skipped)
    if layout != CLASS_FOLDERS_LAYOUT:
        _check_loose_files(root, _visible_entries(root, skipped)[1], image_size, skipped)
    if "val" in split_folders and validation_split is not None:
        raise ArgumentValueError(
            f"`validation_split`={validation_split} cannot be used with {str(root)!r}: it "
            f"already has a held-out folder ({split_folders['val'].name}/). Pass "
            f"validation_split=None.", argument="validation_split")
    listed = [class_folder for split, folder in split_folders.items()
              for class_folder in _list_classes(split, folder, image_size, skipped)]
    num_files = sum(len(class_folder.files) for class_folder in listed)
    mode = _choose_mode(mode, num_files, image_size)
    if mode == "streaming":
        pixels = _new_pixel_file(image_size, num_files, cache_dir)
    else:
        pixels = RecordArray((*image_size, 3), np.uint8, capacity=num_files)
    scans = _scan_classes(listed, image_size, skipped, pixels)
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
                                    split_folders["train"], class_names, found_warnings)

    labels, paths, record_numbers, records = _label_splits(scans, class_names)
    duplicates, duplicate_warnings = find_duplicates(records, root)
    report = DataReport(
        root=root, layout=layout, image_size=image_size, mode=mode, class_names=class_names,
        counts={split: {name: len(scan.get(name, [])) for name in class_names}
                for split, scan in scans.items()},
        skipped=skipped, duplicates=duplicates, warnings=found_warnings + duplicate_warnings,
        train_labels=labels.get("train"), val_labels=labels.get("val"),
        test_labels=labels.get("test"), train_paths=paths.get("train", []),
        val_paths=paths.get("val", []), test_paths=paths.get("test", []),
        pixels=pixels, record_numbers=record_numbers)
    for text in report.warnings:
        warnings.warn(text, DataWarning, stacklevel=2)

    datasets = {split: _split_dataset(report, split, batch_size,
                                      shuffle=shuffle and split == "train", seed=seed)
                for split in ("train", "val", "test")}
    return ImageFolderData(datasets["train"], datasets["val"], class_names, report,
                           test_ds=datasets["test"])


def _label_splits(scans, class_names):
    """Returns `(labels, paths, record_numbers, records)`: per split, the int32
    labels, the files and the int64 record numbers of its images, class by
    class; and each file's sha256 with its `ImageRecord` (for the duplicates)."""
    labels, paths, record_numbers, records = {}, {}, {}, []
    for split, scan in scans.items():
        entries = [(label, name, entry) for label, name in enumerate(class_names)
                   for entry in scan.get(name, [])]
        labels[split] = np.array([label for label, _, _ in entries], dtype=np.int32)
        paths[split] = [file_path for _, _, (file_path, _, _) in entries]
        record_numbers[split] = np.array([number for _, _, (_, _, number) in entries],
                                         dtype=np.int64)
        records += [(digest, ImageRecord(file_path, split, name))
                    for _, name, (file_path, digest, _) in entries]
    return labels, paths, record_numbers, records


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
    if split not in report.record_numbers:
        return None
    labels = {"train": report.train_labels, "val": report.val_labels,
              "test": report.test_labels}[split]
    dataset = report.pixels.dataset(report.record_numbers[split], labels, batch_size,
                                    shuffle=shuffle, seed=seed)
    return map_to_model_input(dataset).prefetch(AUTOTUNE)


