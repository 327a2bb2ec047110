"""The example kit that ships with the library: real photos and genuine ImageNet weights.

Installed with the package (from the repository's `data/` folder; provenance
in `data/README.md`), so the demo, the course and the tests run offline:

- `example_weights()`: the ImageNet weights of
  `keras.applications.MobileNet(alpha=0.25, include_top=False)`, the exact file
  Keras downloads for `weights="imagenet"` at 224 px, checked by sha256.
- `load_example_photos()`: 397 photos of ants and bees, split once into
  `train/` (183), `val/` (61) and `test/` (153). The test part is for the final
  score only: no choice (epochs, learning rate, early stopping) looks at it.
"""

import functools
import hashlib
import importlib.resources
from pathlib import Path

from transfer_keras.data import load_image_folder
from transfer_keras.errors import ResourceUnavailableError

EXAMPLE_BACKBONE = "mobilenet"
EXAMPLE_BACKBONE_KWARGS = {"alpha": 0.25}
EXAMPLE_WEIGHTS_FILE = "mobilenet_2_5_224_tf_no_top.h5"
EXAMPLE_WEIGHTS_SHA256 = "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"
EXAMPLE_CLASS_NAMES = ["ants", "bees"]


class KitUnavailableError(FileNotFoundError, ResourceUnavailableError):
    """Raised when a file of the example kit is missing or damaged."""


def kit_folder():
    """Returns the folder that holds the installed kit (`data/` in a checkout)."""
    return Path(str(importlib.resources.files("transfer_keras._data")))


def _missing(path):
    return KitUnavailableError(
        f"The example kit file {path} is missing or damaged. It ships with "
        f"transfer-keras: reinstall it (`pip install --force-reinstall transfer-keras`, or "
        f"`pip install -e .` in a clone), or in a clone remake it with "
        f"`python data/make_kit.py --shared PATH` (see data/README.md)."
    )


@functools.lru_cache(maxsize=None)
def _verified(path):
    """sha256-checks a weights file once per process."""
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != (
            EXAMPLE_WEIGHTS_SHA256):
        raise _missing(path)
    return path


def example_weights():
    """Returns the path of the kit's genuine ImageNet MobileNet (alpha 0.25) weights.

    Use it like any weights file, at any image size (convolution weights do
    not depend on it): `build_classifier("mobilenet", 2, (128, 128, 3),
    weights=example_weights(), alpha=0.25)`. The file is checked against the
    sha256 Keras publishes for it.

    Returns:
        A `Path` to `mobilenet_2_5_224_tf_no_top.h5`.

    Raises:
        KitUnavailableError: the file is missing or its sha256 does not match.

    Example:
    >>> example_weights().name
    'mobilenet_2_5_224_tf_no_top.h5'
    """
    return _verified(kit_folder() / "imagenet" / EXAMPLE_WEIGHTS_FILE)


def example_photos_folder():
    """Returns the kit's ants/bees folder (`train/`, `val/`, `test/`, one folder per class).

    Example:
    >>> sorted(p.name for p in example_photos_folder().iterdir() if p.is_dir())
    ['test', 'train', 'val']
    """
    folder = kit_folder() / "hymenoptera"
    if not (folder / "train").is_dir():
        raise _missing(folder)
    return folder


def load_example_photos(*, image_size=128, batch_size=32, seed=0, shuffle=True):
    """Loads the kit's ants/bees photos with `load_image_folder`.

    Args:
        image_size: an int or `(height, width)`. Defaults to `128`.
        batch_size: images per batch. Defaults to `32`.
        seed: seed of the training shuffle. Defaults to `0`.
        shuffle: reshuffle the training set every epoch. Defaults to `True`.

    Returns:
        `ImageFolderData`: unpack `train_ds, val_ds, class_names, report`; the
        test part is `.test_ds` (and `report.test_images`, `report.test_labels`).

    Example:
    >>> data = load_example_photos(image_size=64)
    >>> data.class_names, data.report.counts["test"]
    (['ants', 'bees'], {'ants': 70, 'bees': 83})
    """
    return load_image_folder(example_photos_folder(), image_size, batch_size=batch_size,
                             seed=seed, shuffle=shuffle)
