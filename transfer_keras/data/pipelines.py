"""Pipelines: arrays or an unbatched dataset -> resized, batched, prefetched batches.

`prepare` (cache, shuffle, batch, resize, gray <-> RGB, optional augmentation,
prefetch), `augment_dataset` and `dataset_to_arrays`. Pixel values stay in
[0, 255]: the model does its own preprocessing (see `models.py`).
"""

import os
import tempfile
import threading
import warnings

import keras
import numpy as np
import tensorflow as tf

from transfer_keras._checks import (
    check_choice,
    check_image_size,
    check_seed,
    check_labels,
    check_whole_number,
)
from transfer_keras.errors import ArgumentTypeError, ArgumentValueError

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 10_000  # largest shuffle buffer for datasets (arrays get a full shuffle)
# Arrays whose model input (float32) takes at most this many bytes are converted
# once, up front, instead of batch by batch on every pass (see `prepare`). While
# shuffling, the shuffle buffer holds a second copy.
CONVERT_UP_FRONT_BYTES = 64 * 2**20


class DataWarning(UserWarning):
    """Warns about a data problem that does not stop loading (leakage, label noise)."""


# ----------------------------------------------------------------------------
# prepare: arrays or a dataset -> batches for the model.


def check_arrays(data):
    """Returns `(images, labels)` numpy arrays from a pair, or raises with the fix.

    The labels go through `_checks.check_labels` (whole numbers from 0, one per
    image) and come back as int64.

    Example:
    >>> images, labels = check_arrays((np.zeros((2, 8, 8)), [0, 1]))
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ArgumentTypeError(
            f"`data` must be an unbatched tf.data.Dataset of (image, label) or a pair "
            f"(images, labels) of arrays; received {type(data).__name__}.", argument="data")
    images = np.asarray(data[0])
    labels = data[1]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise ArgumentValueError(
            f"`images` must have shape (n, height, width), (n, height, width, 1) or "
            f"(n, height, width, 3); received shape {images.shape}.", argument="images")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise ArgumentTypeError(
            f"`images` must hold numbers (uint8 or float); received dtype "
            f"{images.dtype}.", argument="images")
    labels = check_labels(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ArgumentValueError(
            f"`images` and `labels` must have the same, non-zero length; "
            f"received {len(images)} images and {len(labels)} labels.", argument="images")
    if np.issubdtype(images.dtype, np.floating) and images.max() <= 1.0:
        warnings.warn("`images` look scaled to [0, 1], but the models expect raw pixels "
                      "in [0, 255] (they preprocess themselves). Pass images * 255.",
                      DataWarning, stacklevel=3)
    return images, labels


def _check_dataset(dataset):
    """Checks that a dataset yields unbatched `(image, integer label)` pairs."""
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ArgumentValueError(
            f"`data` must yield (image, label) pairs; its elements are {spec}.", argument="data")
    image_spec, label_spec = spec
    if image_spec.shape.rank not in (2, 3) or (
            image_spec.shape.rank == 3 and image_spec.shape[-1] not in (1, 3)):
        raise ArgumentValueError(
            f"`data` images must be (height, width), (height, width, 1) or (height, "
            f"width, 3); received {image_spec.shape}. If the dataset is batched, pass "
            f"ds.unbatch(); when decoding files, set channels=3.", argument="data")
    if label_spec.shape.rank != 0 or not label_spec.dtype.is_integer:
        raise ArgumentValueError(
            f"`data` labels must be integer class indices (one per image); received "
            f"{label_spec}. For one-hot labels map them with tf.argmax(label).", argument="data")


def prepare(data, *, image_size=None, channels=3, batch_size=32, shuffle=False, cache=True,
            augment=None, seed=None):
    """Turns images and labels into batches a model can train on.

    Steps: cache the raw elements -> shuffle (a new order every epoch) -> batch ->
    resize (bilinear, only when the size differs) and grayscale <-> RGB on whole
    batches, in parallel -> optional `augment` -> prefetch. Pixel values stay in
    [0, 255]: the model does its own preprocessing. Arrays that take at most
    `CONVERT_UP_FRONT_BYTES` (64 MB) as float32 model input are resized and
    converted once, before shuffling, instead of on every pass: the same
    batches, and a new pass starts faster (Keras starts two per epoch).

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
            memory: small ones are kept as float32 model input (a copy of at
            most 64 MB, twice that while shuffling), larger ones are not
            copied. Defaults to `True`.
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
    image_size = None if image_size is None else check_image_size(image_size)
    channels = check_choice(channels, "channels", (1, 3))
    batch_size = check_whole_number(batch_size, "batch_size")
    if not isinstance(shuffle, bool):
        raise ArgumentTypeError(
            f"`shuffle` must be True or False; received {shuffle!r}.", argument="shuffle")
    if augment is not None and not callable(augment):
        raise ArgumentTypeError(
            f"`augment` must be a callable such as a Keras layer, or None; "
            f"received {type(augment).__name__}.", argument="augment")
    seed = check_seed(seed, allow_none=True)
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise ArgumentTypeError(
            f"`cache` must be True, False or a cache file path; received "
            f"{cache!r}.", argument="cache")

    converted = False  # True: the arrays were converted to model input up front
    if isinstance(data, tf.data.Dataset):
        _check_dataset(data)
        dataset = data
        if cache is True:
            dataset = dataset.cache()
        elif cache:
            dataset = dataset.cache(os.fspath(cache))
    else:
        images, labels = check_arrays(data)
        converted = _model_input_bytes(images, image_size, channels) <= CONVERT_UP_FRONT_BYTES
        if converted:
            # Small arrays: convert them all once, here. The batches are the same
            # as converting batch by batch, and every new pass (Keras starts two
            # per epoch) skips setting up the conversion, about 10 ms each.
            images, labels = _to_model_input(tf.constant(images), tf.constant(labels),
                                             image_size, channels)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        size = int(dataset.cardinality())
        if isinstance(data, tf.data.Dataset) or size < 1:
            size = SHUFFLE_BUFFER if size < 1 else min(size, SHUFFLE_BUFFER)
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)

    if converted:
        dataset = dataset.batch(batch_size)
    else:
        height, width = dataset.element_spec[0].shape[:2]
        if height is None or width is None:  # images of different sizes: resize one by one
            if image_size is None:
                raise ValueError("The images in `data` have different sizes; pass "
                                 "`image_size` so they can be batched.")
            dataset = dataset.map(_graph_code(lambda image, label: (_resize(image, image_size),
                                                                    label)),
                                  num_parallel_calls=AUTOTUNE)
        dataset = map_to_model_input(dataset.batch(batch_size), image_size=image_size,
                                     channels=channels)
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
        raise ArgumentTypeError(
            f"`ds` must be a tf.data.Dataset of (images, labels); received "
            f"{type(ds).__name__}.", argument="ds")
    if not callable(augment):
        raise ArgumentTypeError(
            f"`augment` must be a callable such as build_augmentation(); "
            f"received {type(augment).__name__}.", argument="augment")
    layer = isinstance(augment, keras.layers.Layer)

    def apply(images, labels):
        images = augment(images, training=True) if layer else augment(images)
        return tf.cast(images, tf.float32), labels

    return ds.map(apply, num_parallel_calls=AUTOTUNE)


def _graph_code(function):
    """Marks a `Dataset.map` function as plain graph code (no Python `if` or loop on
    tensor values), so AutoGraph does not convert it: converting costs a few tenths
    of a second for every new function, more than mapping a small data set."""
    return tf.autograph.experimental.do_not_convert(function)


def _model_input_bytes(images, image_size, channels):
    """Bytes of `images` once converted to float32 model input."""
    height, width = image_size or images.shape[1:3]
    return len(images) * height * width * channels * 4


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


def map_to_model_input(batches, *, image_size=None, channels=3):
    """Maps every batch of `(images, labels)` to model input, in parallel.

    Each batch is resized if `image_size` differs, given `channels` channels
    and cast to float32 images and int32 labels (no AutoGraph).

    Example:
    >>> batches = map_to_model_input(tf.data.Dataset.from_tensor_slices(
    ...     (np.zeros((4, 8, 8), np.uint8), np.arange(4))).batch(2), image_size=(16, 16))
    """
    return batches.map(_graph_code(lambda images, labels: _to_model_input(
        images, labels, image_size, channels)), num_parallel_calls=AUTOTUNE)


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
        raise ArgumentTypeError(
            f"`dataset` must be a tf.data.Dataset; received "
            f"{type(dataset).__name__}.", argument="dataset")
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise ArgumentValueError("`dataset` is empty.", argument="dataset")
    join = np.stack if np.ndim(labels[0]) == 0 else np.concatenate
    return join(images), join(labels)



# ----------------------------------------------------------------------------
# Fixed-size records (decoded pixels, extracted features) in a temporary file.


class _Records:
    """What `RecordFile` and `RecordArray` share: equal-sized records, numbered
    in the order they were appended, read back by number and as batches."""

    def __init__(self, shape, dtype):
        self.shape = tuple(int(size) for size in shape)
        self.dtype = np.dtype(dtype)
        self.count = 0

    def __len__(self):
        return self.count

    def _check_new(self, records):
        """`records` as a contiguous `(n, *shape)` array (one record gets n = 1)."""
        records = np.ascontiguousarray(records, dtype=self.dtype)
        if records.shape == self.shape:
            records = records[np.newaxis]
        if records.shape[1:] != self.shape:
            raise ValueError(f"A record must have shape {self.shape}; received "
                             f"{records.shape[1:]}.")
        return records

    def read_all(self):
        """All records as one new in-memory array (needs memory for all of them)."""
        return self.read(np.arange(self.count))

    def dataset(self, indices, labels, batch_size, *, shuffle=False, seed=None):
        """A `tf.data.Dataset` of `(records, labels)` batches of the records at `indices`.

        Only the record numbers go through `tf.data`: they are shuffled (a full
        shuffle, a new order every pass, the same order as shuffling the arrays
        themselves in `prepare`) and batched, then each batch of records is
        read at once, in parallel. No copy of the records is made up front.
        """
        indices = np.asarray(indices, dtype=np.int64)
        dataset = tf.data.Dataset.from_tensor_slices((indices, np.asarray(labels)))
        if shuffle:
            dataset = dataset.shuffle(max(len(indices), 1), seed=seed,
                                      reshuffle_each_iteration=True)
        dtype = tf.as_dtype(self.dtype)

        @_graph_code
        def read_batch(batch_indices, batch_labels):
            records = tf.numpy_function(self.read, [batch_indices], dtype, stateful=False)
            records.set_shape((None,) + self.shape)
            return records, batch_labels

        return dataset.batch(batch_size).map(read_batch, num_parallel_calls=AUTOTUNE)


class RecordFile(_Records):
    """Equal-sized arrays appended to an anonymous temporary file, read back by index.

    The streaming image loader keeps its decoded pixels here and the disk
    feature cache its backbone features: memory stays flat however many
    records there are, because only the batches being used are read. The file
    has no name (it is deleted when this object is garbage-collected or closed),
    so nothing is left behind, even after a crash.

    Writes and reads use `os.pwrite` and `os.preadv` (no shared file position,
    so parallel readers need no lock, and no extra copies) and go through the
    operating system's page cache, which does not count as the process's memory.

    Args:
        shape: the shape of one record, e.g. `(224, 224, 3)`.
        dtype: its NumPy dtype, e.g. `np.uint8`.
        folder: where the temporary file lives. Defaults to `None` (the
            system's temporary folder, `tempfile.gettempdir()`).
    """

    def __init__(self, shape, dtype, *, folder=None):
        super().__init__(shape, dtype)
        self.record_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.folder = folder
        self._file = tempfile.TemporaryFile(dir=folder)
        self._lock = threading.Lock()  # only where os.pwrite is missing (Windows)

    def append(self, records):
        """Writes one record or a batch of them (a leading axis); returns the first index."""
        records = self._check_new(records)
        first = self.count
        offset = first * self.record_bytes
        if hasattr(os, "pwrite"):  # straight from `records`, no copy
            view = memoryview(records).cast("B")
            while view:  # a write may be partial
                written = os.pwrite(self._file.fileno(), view, offset)
                if written == 0:
                    raise OSError(f"Could not write to the temporary record file in "
                                  f"{self.folder or tempfile.gettempdir()}; is the disk full?")
                view, offset = view[written:], offset + written
        else:
            with self._lock:
                self._file.seek(offset)
                self._file.write(records.tobytes())
                self._file.flush()
        self.count += len(records)
        return first

    def read(self, indices):
        """Returns the records at `indices` (a 1-D sequence) as one array."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(indices),) + self.shape, self.dtype)
        buffer = out.reshape(len(indices), -1).view(np.uint8)
        for row, index in enumerate(indices):
            offset = int(index) * self.record_bytes
            if hasattr(os, "preadv"):  # straight into `out`, no copy
                read = os.preadv(self._file.fileno(), [buffer[row]], offset)
            else:
                with self._lock:
                    self._file.seek(offset)
                    read = self._file.readinto(buffer[row])
            if read != self.record_bytes:
                raise OSError(f"The temporary record file ended early (record {index} of "
                              f"{self.count}); was the disk full?")
        return out

    def close(self):
        """Deletes the file now (it is deleted at garbage collection otherwise)."""
        self._file.close()


class RecordArray(_Records):
    """The in-memory twin of `RecordFile`: equal-sized arrays appended to one
    array made up front, read back by index.

    The memory-mode image loader keeps its decoded pixels here. Each record
    is copied once, into its place; no list of records is stacked at the end
    (a second copy of everything). Room for `capacity` records is reserved,
    but the operating system gives memory only to the records written, so
    unused room (files skipped as broken) costs nothing.

    Args:
        shape: the shape of one record, e.g. `(224, 224, 3)`.
        dtype: its NumPy dtype, e.g. `np.uint8`.
        capacity: the most records it will hold.
    """

    def __init__(self, shape, dtype, capacity):
        super().__init__(shape, dtype)
        self._array = np.empty((int(capacity),) + self.shape, self.dtype)

    def append(self, records):
        """Writes one record or a batch of them (a leading axis); returns the first index."""
        records = self._check_new(records)
        first = self.count
        if first + len(records) > len(self._array):
            raise ValueError(f"This RecordArray holds at most {len(self._array)} records; "
                             f"received record {first + len(records)}.")
        self._array[first:first + len(records)] = records
        self.count += len(records)
        return first

    def read(self, indices):
        """Returns the records at `indices` (a 1-D sequence) as a new array."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= self.count):
            raise IndexError(f"Record numbers must be in 0..{self.count - 1}; received "
                             f"{indices.min()}..{indices.max()}.")
        return self._array[indices]

