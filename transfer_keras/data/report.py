"""What `load_image_folder` found and returns: the report and the result.

- `ImageRecord`: one loaded file, its split and its class.
- `DataReport`: counts, skipped files, duplicates, warnings, and the decoded
  images of each split; as a table, plain data, text or HTML.
- `ImageFolderData`: `train_ds, val_ds, class_names, report = load_image_folder(...)`,
  plus `.test_ds`.
- `find_duplicates`: groups of identical files, and the warnings they call for.
"""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from transfer_keras._table import Table

MODE_DESCRIPTIONS = {
    "memory": "the decoded images are held in memory",
    "streaming": "the decoded images wait in a temporary file, read batch by batch",
}


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One loaded image file: where it is, which split and which class it went to."""

    path: Path
    split: str
    class_name: str


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class DataReport:
    """What `load_image_folder` found: counts, skipped files, duplicates, warnings.

    Attributes:
        root: the folder that was read.
        layout: `"class folders"` (`root/<class>/`), `"split folders"` (`root/train/`,
            a validation folder, maybe `root/test/`) or `"train and test folders"`.
        image_size: `(height, width)` of the loaded arrays.
        mode: `"memory"` (the decoded pixels are held in memory) or `"streaming"`
            (they wait in a temporary file); either way the datasets read them
            batch by batch.
        class_names: sorted class names; label `i` is `class_names[i]`.
        counts: `{split: {class_name: number of images}}`, splits `"train"`, `"val"`
            and, for a train/val/test folder, `"test"`.
        skipped: list of `(path, reason)` for every file or folder not loaded.
        duplicates: list of groups of identical files, each a list of `ImageRecord`s.
        warnings: the data problems worth a look, as sentences.
        train_labels, train_paths: int32 labels and the file of each image.
            `val_*` and `test_*` likewise (None / [] without that part).
        train_images, val_images, test_images: uint8 `(n, h, w, 3)` images (None
            without that part). Each access reads the whole part into a new
            array (changing it changes nothing else).
        pixels: every decoded image, in the order read: a `RecordArray` (memory)
            or a `RecordFile` (streaming).
        record_numbers: `{split: int64 array}`, where each image of the split
            is in `pixels`.

    Example:
    >>> report = load_image_folder("hymenoptera_data", 160).report
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    hymenoptera_data (split folders): 397 images, 2 classes, resized to 160x160
    class  train  val  test  total
    -----  -----  ---  ----  -----
    ants   92     31   70    193
    bees   91     30   83    204
    Mode: memory (the decoded images are held in memory)
    """

    root: Path
    layout: str
    image_size: tuple
    mode: str
    class_names: list
    counts: dict
    skipped: list = dataclasses.field(default_factory=list)
    duplicates: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    train_labels: np.ndarray = None
    val_labels: np.ndarray = None
    test_labels: np.ndarray = None
    train_paths: list = dataclasses.field(default_factory=list)
    val_paths: list = dataclasses.field(default_factory=list)
    test_paths: list = dataclasses.field(default_factory=list)
    pixels: Any = None
    record_numbers: dict = dataclasses.field(default_factory=dict)

    def _images(self, split):
        if split not in self.record_numbers:
            return None
        return self.pixels.read(self.record_numbers[split])

    train_images = property(lambda self: self._images("train"))
    val_images = property(lambda self: self._images("val"))
    test_images = property(lambda self: self._images("test"))

    @property
    def num_images(self):
        """Number of images loaded, over all splits."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    def arrays(self):
        """Returns `(train_images, train_labels, val_images, val_labels)` as numpy."""
        return self.train_images, self.train_labels, self.val_images, self.val_labels

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
        notes += [f"  {relative_path(path, self.root)}: {reason}"
                  for path, reason in self.skipped]
        if self.duplicates:
            notes.append(f"{len(self.duplicates)} group(s) of identical files (all kept):")
            notes += ["  " + " == ".join(relative_path(r.path, self.root) for r in group)
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


@dataclasses.dataclass(frozen=True)
class ImageFolderData:
    """What `load_image_folder` returns: `train_ds, val_ds, class_names, report = ...`.

    `val_ds` is None without a validation part. `test_ds` (an attribute, not
    part of the unpacking) holds a `test/` folder that sits beside `train/`; it
    is None otherwise. Score it only once, at the end:
    no choice (epochs, learning rate, early stopping) may look at it.

    Example:
    >>> data = load_image_folder("hymenoptera_data", 160)
    >>> train_ds, val_ds, class_names, report = data
    """

    train_ds: Any
    val_ds: Any
    class_names: list
    report: DataReport
    _: dataclasses.KW_ONLY
    test_ds: Any = None

    def __iter__(self):
        """Unpacks as `train_ds, val_ds, class_names, report` (not `test_ds`)."""
        return iter((self.train_ds, self.val_ds, self.class_names, self.report))

    def arrays(self):
        """Returns `(train_images, train_labels, val_images, val_labels)` as numpy."""
        return self.report.arrays()


def relative_path(path, root):
    """`path` relative to `root` as text, or the whole path if it is elsewhere."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def find_duplicates(records, root):
    """Groups identical files; says which groups leak across splits or classes.

    Args:
        records: `(sha256, ImageRecord)` pairs, one per loaded file.
        root: the folder read (paths in the warnings are relative to it).

    Returns:
        `(duplicates, warnings)`: the groups of two or more `ImageRecord`s with
        the same content, and a sentence for the groups found in more than one
        split (leakage) and for those in more than one class (label noise).

    Example:
    >>> duplicates, warnings = find_duplicates([], "photos")
    >>> duplicates, warnings
    ([], [])
    """
    groups = {}
    for digest, record in records:
        groups.setdefault(digest, []).append(record)
    duplicates = [group for group in groups.values() if len(group) > 1]
    leaks = [g for g in duplicates if len({r.split for r in g}) > 1]
    conflicts = [g for g in duplicates if len({r.class_name for r in g}) > 1]
    warnings = []
    for found, problem, fix in [
        (leaks, "are in more than one split (leakage: validation or test scores will be "
                "too optimistic)", "keep one copy, in one split"),
        (conflicts, "are in more than one class (label noise)",
         "keep the copy in the right class"),
    ]:
        if found:
            example = " == ".join(relative_path(r.path, root) for r in found[0])
            warnings.append(f"{len(found)} group(s) of identical files {problem}, "
                            f"e.g. {example}. To fix it, {fix}.")
    return duplicates, warnings
