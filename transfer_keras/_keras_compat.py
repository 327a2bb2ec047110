"""Every private Keras API the library uses, in one place.

Keras 3 has no public way to ask for its cache folder or to see which file a
`keras.applications` constructor tries to download, so this module reaches
into `keras.src`. Nothing else in `transfer_keras` does: when a Keras upgrade
moves one of these internals, this file is the only one to fix (the tests in
`tests/test_keras_compat.py` say which).

- `keras_home()`: the one answer to "where is the Keras cache?", used for
  weights (`<home>/models`) and datasets (`<home>/datasets`).
- `recording_downloads()`: while it is active, every `get_file` call made by
  `keras.applications` is recorded (file name, URL, folder) and saves into
  `keras_home()`, so Keras reads and writes the folder `keras_home()` names;
  its "Downloading data from ..." line is printed only once the server
  answers, so an offline attempt that a cached file then stands in for
  prints nothing that reads as a download.
- `build_before_fit(model, data)`: creates the optimizer's and the metrics'
  variables before `fit`, so TensorFlow traces the training step once, not twice.
- `multi_worker_fit(model)`: lets `fit` run under `MultiWorkerMirroredStrategy`,
  which Keras 3 (up to at least 3.15) cannot do on its own.
"""

import contextlib
import inspect
import os
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf
from keras.src import tree
from keras.src.backend import config as keras_config
from keras.src.backend.tensorflow import trainer as keras_tf_trainer
from keras.src.utils import file_utils as keras_file_utils


class DownloadRequest(NamedTuple):
    """One `get_file` call: the file name, its URL and the folder it is saved in."""

    fname: str
    origin: str
    folder: Path


def keras_home():
    """Returns Keras's home folder: `$KERAS_HOME` as set now, else the one Keras chose.

    Keras reads `KERAS_HOME` once, when it is imported (`~/.keras` when unset,
    or `/tmp/.keras` when the home folder is read-only). Reading the variable
    again here lets a notebook or test set it after importing Keras.

    Returns:
        The folder as a `Path`, with `~` expanded.

    Example:
    >>> keras_home() / "models"  # doctest: +ELLIPSIS
    PosixPath('.../.keras/models')
    """
    home = os.environ.get("KERAS_HOME") or keras_config.keras_home()
    return Path(home).expanduser()


@contextlib.contextmanager
def recording_downloads():
    """Records every file Keras's `get_file` is asked for while the block runs.

    Calls that name no `cache_dir` (all of `keras.applications`) save into
    `keras_home()`, created if needed. The original `get_file` is put back
    when the block ends, also when it ends with an error.

    Yields:
        A list, filled with one `DownloadRequest` per `get_file` call.

    Example (it downloads, so the doctests skip it; `tests/test_keras_compat.py`
    runs it offline):
    >>> with recording_downloads() as requests:  # doctest: +SKIP
    ...     keras.applications.MobileNetV2(weights="imagenet", include_top=False)
    >>> requests[-1].fname  # doctest: +SKIP
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5'
    """
    original = keras_file_utils.get_file
    signature = inspect.signature(original)
    requests = []

    def recording_get_file(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        if call.arguments["cache_dir"] is None:
            home = keras_home()
            # As Keras does for its own home at import: it falls back to /tmp/.keras
            # for a folder that does not exist or is read-only.
            with contextlib.suppress(OSError):
                home.mkdir(parents=True, exist_ok=True)
            call.arguments["cache_dir"] = str(home)
        origin = call.arguments["origin"]
        fname = call.arguments["fname"] or str(origin).rsplit("/", 1)[-1]
        folder = Path(call.arguments["cache_dir"]).expanduser() / call.arguments["cache_subdir"]
        requests.append(DownloadRequest(fname, origin, folder))
        with _messages_held_until_connected():
            return original(*call.args, **call.kwargs)

    keras_file_utils.get_file = recording_get_file
    try:
        yield requests
    finally:
        keras_file_utils.get_file = original


@contextlib.contextmanager
def _messages_held_until_connected():
    """Holds back `get_file`'s messages until `urlretrieve` reports its first block.

    `urlretrieve` calls its progress hook first right after the server has
    answered; offline it fails before that, and the held messages are dropped
    (the library then says itself what it did instead).
    """
    io_utils = keras_file_utils.io_utils
    print_msg, urlretrieve = io_utils.print_msg, keras_file_utils.urlretrieve
    held = []

    def release():
        while held:
            print_msg(*held.pop(0))

    def holding_print(message, line_break=True):
        held.append((message, line_break))

    def retrieving(url, filename=None, reporthook=None, data=None):
        def hook(*progress):
            release()
            io_utils.print_msg = print_msg  # connected: messages pass through again
            if reporthook is not None:
                reporthook(*progress)
        return urlretrieve(url, filename, hook, data)

    io_utils.print_msg, keras_file_utils.urlretrieve = holding_print, retrieving
    try:
        yield
    finally:
        io_utils.print_msg, keras_file_utils.urlretrieve = print_msg, urlretrieve


def build_before_fit(model, data):
    """Creates a compiled model's optimizer and metric variables before `fit` runs.

    Why: with no distribution strategy, Keras (TensorFlow backend) creates them
    only while `tf.function` traces the first training step, and a
    `tf.function` whose first trace creates variables is traced a second time.
    Tracing a MobileNet's training step takes seconds on a CPU, so every
    `fit` of a freshly compiled model paid it twice. Building first (what Keras
    itself does under a distribution strategy) keeps it to one trace. Nothing
    else changes: the same variables, created with the same zeros.

    Args:
        model: a compiled Keras model.
        data: the training data: a `tf.data.Dataset` (its `element_spec` is
            used; nothing is read from it) or an `(x, y)` tuple of arrays.

    Example:
    >>> compiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> compiled.compile(optimizer="adam", loss="mse")
    >>> build_before_fit(compiled, (np.zeros((4, 3)), np.zeros((4, 2))))
    >>> compiled.optimizer.built
    True
    """
    spec = data.element_spec if hasattr(data, "element_spec") else data
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=spec)



def _is_multi_worker(strategy):
    """True for a `MultiWorkerMirroredStrategy` that spans more than one worker."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def _reduce_per_replica_fixed(values, strategy, reduction):
    """Keras's `reduce_per_replica`, with the multi-worker mean of scalars fixed.

    Keras averages every log (loss, accuracy: scalars) with
    `strategy.reduce("MEAN", value, axis=0)` under several workers, and a
    scalar has no axis 0: "Invalid reduction dimension 0 for input with 0
    dimensions" (tensorflow/tensorflow#72388). A scalar is averaged with
    `axis=None`; everything else goes to Keras unchanged.
    """
    if not (_is_multi_worker(strategy) and reduction in ("auto", "mean")):
        return _KERAS_REDUCE_PER_REPLICA(values, strategy, reduction)

    def reduce(value):
        local = strategy.experimental_local_results(value)[0]
        if local.shape.rank == 0:
            return strategy.reduce("MEAN", value, axis=None)
        return _KERAS_REDUCE_PER_REPLICA(value, strategy, reduction)

    return tree.map_structure(reduce, values)


_KERAS_REDUCE_PER_REPLICA = keras_tf_trainer.reduce_per_replica


@contextlib.contextmanager
def multi_worker_fit(model):
    """Lets `model.fit` run under `MultiWorkerMirroredStrategy` (a no-op otherwise).

    Keras 3 (up to at least 3.15 with TensorFlow 2.21) fails twice there:

    1. Before training, `fit` averages a distributed batch across the workers
       only to learn its shapes, and that eager all-reduce fails ("Attempt to
       convert a value (PerReplica ..."). The model is already built by
       `build_before_fit`, so for this `fit` the step is skipped.
    2. After each step it averages the scalar logs along an axis they do not
       have: fixed by `_reduce_per_replica_fixed` (only for several workers,
       and only inside this context: Keras's own is put back on exit).

    Call `build_before_fit(model, data)` first. The test that two worker
    processes end with the same weights is in `tests/test_distribute.py`.
    """
    if not _is_multi_worker(model.distribute_strategy):
        yield
        return
    keras_reduce = keras_tf_trainer.reduce_per_replica
    keras_tf_trainer.reduce_per_replica = _reduce_per_replica_fixed
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    try:
        yield
    finally:  # put back what was patched: a later fit elsewhere sees plain Keras
        del model._maybe_symbolic_build
        keras_tf_trainer.reduce_per_replica = keras_reduce


def distribute_strategy(model, strategy=None):
    """`strategy` if given, else the `tf.distribute` strategy the model was built under.

    Keras 3 keeps it in `model.distribute_strategy` on the TensorFlow backend only;
    this is the one place that reads it.
    """
    return strategy or model.distribute_strategy


def all_layers(model):
    """Every layer of `model`, itself and nested models' layers included, in order.

    Keras has no public walk that includes nested models' layers; its private
    `_flatten_layers` is used here, in this one place.
    """
    return list(model._flatten_layers(include_self=True, recursive=True))
