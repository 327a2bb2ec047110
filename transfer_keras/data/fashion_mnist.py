"""Fashion-MNIST from every offline source.

`load_fashion_mnist`: the real Fashion-MNIST from the Keras cache, Debian's
`dataset-fashion-mnist` package, or a Keras download, in that order.
"""

import dataclasses
import gzip
from pathlib import Path

import keras
import numpy as np

from transfer_keras import _keras_compat
from transfer_keras.errors import ResourceUnavailableError

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_MNIST_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                       "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FASHION_MNIST_DEBIAN_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# dpkg's list of the files a package installed (what `dpkg -L` reads)
DPKG_FILE_LIST = Path("/var/lib/dpkg/info") / f"{FASHION_MNIST_DEBIAN_PACKAGE}.list"
FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class FashionMNISTUnavailableError(FileNotFoundError, ResourceUnavailableError):
    """Raised when Fashion-MNIST is in no local folder and cannot be downloaded."""


@dataclasses.dataclass(frozen=True, eq=False)  # holds numpy arrays
class FashionMNIST:
    """Fashion-MNIST as uint8 `(n, 28, 28)` images, int32 labels, names and source."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list
    source: str


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


def keras_fashion_mnist_dir():
    """Returns Keras's cache folder for Fashion-MNIST; KERAS_HOME set now wins.

    Example:
    >>> keras_fashion_mnist_dir().name
    'fashion-mnist'
    """
    return _keras_compat.keras_home() / "datasets" / "fashion-mnist"


def debian_fashion_mnist_dir(*, file_list=None):
    """Returns where Debian's package put the files, else the usual folder.

    Read from the package's file list (what `dpkg -L` prints), without running
    any program.

    Args:
        file_list: the package's file list. Defaults to `None` (`DPKG_FILE_LIST`).

    Example:
    >>> debian_fashion_mnist_dir()
    PosixPath('/usr/share/datasets/fashion-mnist')
    """
    try:
        listing = Path(file_list or DPKG_FILE_LIST).read_text(errors="replace")
    except OSError:
        return FASHION_MNIST_DEBIAN_DIR
    for line in listing.splitlines():
        if line.endswith("/" + FASHION_MNIST_FILES[0]):
            return Path(line).parent
    return FASHION_MNIST_DEBIAN_DIR


def load_fashion_mnist(*, cache_dir=None, debian_dir=None, download=True):
    """Loads the real Fashion-MNIST (70,000 grayscale 28x28 images, 10 classes).

    Looks, in order, in Keras's cache, in the folder of Debian's
    `dataset-fashion-mnist` package, then asks Keras to download it. The IDX
    files are read and checked here (no network needed for the first two).

    Args:
        cache_dir: the folder holding the four `.gz` files. Defaults to `None`
            (`$KERAS_HOME/datasets/fashion-mnist`, or `~/.keras/...`).
        debian_dir: the Debian package's folder. Defaults to `None` (found in
            the package's file list, as `dpkg -L dataset-fashion-mnist` shows it,
            else `/usr/share/datasets/fashion-mnist`).
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
    keras_dir = Path(cache_dir) if cache_dir is not None else keras_fashion_mnist_dir()
    debian = Path(debian_dir) if debian_dir is not None else debian_fashion_mnist_dir()
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


