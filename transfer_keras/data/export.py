"""Arrays written back as an image folder: `path/<class_name>/<index>.<format>`.

`export_image_folder` writes images and labels as a folder `load_image_folder`
reads back; the folder appears whole or not at all (`_files.staged_folder`).
"""

import re
from pathlib import Path

import numpy as np
from PIL import Image

from transfer_keras._checks import check_whole_number
from transfer_keras._files import staged_folder
from transfer_keras.data.folders import SPLIT_FOLDER_NAMES
from transfer_keras.data.pipelines import check_arrays
from transfer_keras.errors import ArgumentValueError

IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "bmp": "BMP"}  # -> Pillow's name


def _folder_name(class_name):
    """Returns a class name that is safe as a folder name ("T-shirt/top" -> "T-shirt_top")."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", str(class_name)).strip(" .")


def export_image_folder(images, labels, class_names, path, *, per_class=None, format="png",
                        overwrite=False):
    """Writes images as `path/<class_name>/<index>.<format>`, ready for `load_image_folder`.

    The folder is written beside `path` under a hidden temporary name, then
    renamed into place, so an error or Ctrl-C leaves no half-written folder
    (and an existing folder as it was). Class names are made safe as folder
    names (`"T-shirt/top"` -> `"T-shirt_top"`).

    Args:
        images: uint8 (or float in [0, 255]) images `(n, h, w)`, `(n, h, w, 1)` or
            `(n, h, w, 3)`.
        labels: integer labels in `0..len(class_names)-1`, one per image.
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
    images, labels = check_arrays((images, labels))
    if str(format).lower() not in IMAGE_FORMATS:
        raise ArgumentValueError(
            f"`format` must be one of {', '.join(IMAGE_FORMATS)}; received "
            f"{format!r}.", argument="format")
    per_class = None if per_class is None else check_whole_number(per_class, "per_class")
    folder_names = _folder_names(class_names)
    if labels.max() >= len(class_names):
        raise ArgumentValueError(
            f"`labels` must be in 0..{len(class_names) - 1} (one per class "
            f"name); received values from {labels.min()} to {labels.max()}.", argument="labels")
    target = Path(path).expanduser()
    if target.is_file() or (target.is_dir() and any(target.iterdir()) and not overwrite):
        raise FileExistsError(f"`path` {str(target)!r} already exists and is not an empty "
                              f"folder. Choose another path or pass overwrite=True.")

    extension = str(format).lower()
    pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    if pixels.ndim == 4 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    digits = len(str(len(pixels) - 1))
    with staged_folder(target) as staging:
        for label, folder_name in enumerate(folder_names):
            (staging / folder_name).mkdir()
            for index in np.flatnonzero(labels == label)[:per_class]:
                Image.fromarray(pixels[index]).save(
                    staging / folder_name / f"{index:0{digits}d}.{extension}",
                    IMAGE_FORMATS[extension])
    return target


def _folder_names(class_names):
    """The folder name of each class, checked: distinct, and not a split's name."""
    folder_names = [_folder_name(name) or f"class_{i}" for i, name in enumerate(class_names)]
    if len(set(folder_names)) != len(folder_names):
        raise ArgumentValueError(
            f"`class_names` {list(class_names)} give repeated folder names "
            f"{folder_names}; make them distinct.", argument="class_names")
    split_like = [name for name in folder_names if name.lower() in SPLIT_FOLDER_NAMES]
    if split_like:
        raise ArgumentValueError(
            f"`class_names` {split_like} would be read back as split folders "
            f"(train/, val/, ...), not classes, by load_image_folder. Rename "
            f"them (e.g. 'train_set').", argument="class_names")
    return folder_names
