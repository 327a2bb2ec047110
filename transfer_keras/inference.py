"""Predictions: probabilities from any head, one traced inference function per model, the loss.

Predictions always come out as probabilities of shape `(n, num_classes)`:
a one-unit sigmoid head (P(class 1)) becomes the two columns `[1 - p, p]`,
and a model built with `classifier_activation=None` (logits) gets its softmax
or sigmoid applied here. The loss that matches a head is chosen here too
(`loss_for`), for training and for cross-validation alike.

Data comes in two kinds:
- a batched `tf.data.Dataset` yielding `(images, int labels)`, or
- a tuple `(images, labels)` of numpy arrays (predicted `batch_size` at a time).
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import layout
from transfer_keras.layout import num_classes_of  # (defined there: models need it too)
from transfer_keras._checks import check_labels, check_whole_number

__all__ = [
    "in_batches",
    "loss_for",
    "num_classes_of",
    "outputs_logits",
    "predict_probabilities",
    "predict_with_labels",
    "to_probabilities",
    "traced_inference",
]


def outputs_logits(model):
    """True when the model's last layer (`predictions` in a model of this library)
    has no activation: a Dense layer with `activation=None` gives logits.

    Example:
    >>> outputs_logits(model)  # a softmax head
    False
    """
    layer = layout.find_predictions(model)
    if layer is None and getattr(model, "layers", None):
        layer = model.layers[-1]  # a model built elsewhere: its output layer
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "linear"


def loss_for(model):
    """Returns the cross-entropy that matches a model's head: the one place the loss is chosen.

    One output unit -> binary cross-entropy; several -> sparse categorical
    cross-entropy (integer labels); `from_logits=True` when the last layer has
    no activation (`outputs_logits`).

    Example:
    >>> type(loss_for(model)).__name__  # two softmax units
    'SparseCategoricalCrossentropy'
    """
    from_logits = outputs_logits(model)
    layer = layout.find_predictions(model)  # a subclassed model has no output_shape
    units = layer.units if layer is not None else model.output_shape[-1]
    if units == 1:
        return keras.losses.BinaryCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def to_probabilities(outputs, *, logits=False):
    """Turns model outputs into `(n, num_classes)` probabilities (1 unit -> [1 - p, p]).

    Outputs said to be probabilities are checked: values outside [0, 1], or
    rows of several units that do not sum to 1, are refused rather than shown
    as probabilities (a model built elsewhere may end in a layer this library
    cannot see through).

    Args:
        outputs: the model's outputs, `(n, units)` or `(n,)`.
        logits: whether `outputs` are logits (softmax or sigmoid applied here).
            Defaults to `False`.

    Returns:
        A float64 array `(n, num_classes)`; each row sums to 1.

    Raises:
        ValueError: `logits` is False and the outputs are not probabilities.

    Example:
    >>> to_probabilities([[0.25]]).tolist()
    [[0.75, 0.25]]
    """
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if not logits and outputs.size:
        sums = outputs.sum(axis=1)
        if (outputs.min() < -1e-3 or outputs.max() > 1 + 1e-3
                or (outputs.shape[1] > 1 and np.abs(sums - 1).max() > 1e-2)):
            raise ValueError(
                f"The model's outputs are not probabilities (values from "
                f"{outputs.min():.3g} to {outputs.max():.3g}, rows summing to "
                f"{sums.min():.3g}..{sums.max():.3g}), and its last layer does not say it "
                f"gives logits. End the model in a softmax (or sigmoid for one unit), or "
                f"in a Dense layer with activation=None for logits.")
    if outputs.shape[1] == 1:
        p = 1 / (1 + np.exp(-outputs[:, 0])) if logits else outputs[:, 0]
        return np.stack([1 - p, p], axis=1)
    if logits:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return outputs


def predict_probabilities(model, images, *, batch_size=32):
    """Class probabilities `(n, num_classes)` for raw images, whatever the head.

    Handles the three heads `build_classifier` makes: softmax, one sigmoid
    unit (returned as `[1 - p, p]`) and logits (`classifier_activation=None`).

    Args:
        model: a classifier taking raw pixels.
        images: an array `(n, height, width, 3)` (a list of images works too).
        batch_size: images per prediction batch. Defaults to `32`.

    Returns:
        A float64 numpy array; each row sums to 1.

    Raises:
        TypeError: `images` is a dataset (use `evaluate_classifier`) or not
            numbers, or `batch_size` is not a whole number.
        ValueError: `images` is empty or does not have the model's input shape,
            or `batch_size` is below 1.

    Example:
    >>> predict_probabilities(model, images[:4]).shape  # a 2-class model
    (4, 2)
    """
    outputs = _predict_arrays(model, images, batch_size)
    return to_probabilities(outputs, logits=outputs_logits(model))


def _predict_arrays(model, images, batch_size):
    """The model's outputs for an array of images, `batch_size` at a time, through
    the model's one traced inference function (`traced_inference`)."""
    if isinstance(images, tf.data.Dataset):
        raise TypeError("`images` must be an array of images; received a tf.data.Dataset. "
                        "Score a dataset of (images, labels) with evaluate_classifier.")
    images = np.asarray(images)
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise TypeError(f"`images` must hold numbers; received dtype {images.dtype}.")
    batch_size = check_whole_number(32 if batch_size is None else batch_size, "batch_size")
    if images.ndim == 0 or len(images) == 0:
        raise ValueError(f"`images` holds no images (shape {images.shape}): there is "
                         f"nothing to predict.")
    expected = getattr(model, "input_shape", None)
    if not isinstance(expected, tuple):  # a subclassed model: Keras's predict knows it
        return model.predict(images, batch_size=batch_size, verbose=0)
    images = _fit_input_shape(images, expected[1:])
    return in_batches(traced_inference(model), images, batch_size)


def _fit_input_shape(images, expected):
    """`images` shaped `(n, *expected)`: a grayscale `(n, h, w)` array gets its
    channel axis for a one-channel model; any other mismatch raises ValueError."""
    if images.ndim == len(expected) and expected[-1] == 1:
        images = images[..., np.newaxis]
    if images.ndim != len(expected) + 1 or any(
            size is not None and size != got for size, got in zip(expected, images.shape[1:])):
        wanted = ", ".join("any" if size is None else str(size) for size in expected)
        hint = ""
        if len(expected) == 3 and images.ndim == 4 and None not in expected[:2]:
            hint = (f" Resize the images first, e.g. with `prepare((images, labels), "
                    f"image_size={expected[:2]}, channels={expected[2]})`.")
        raise ValueError(f"`images` must have shape (n, {wanted}) for this model; received "
                         f"{images.shape}.{hint}")
    return images


def in_batches(function, images, batch_size):
    """Runs `function` (a `traced_inference` function) on an array of images,
    `batch_size` at a time, and returns one numpy array.

    Example:
    >>> in_batches(traced_inference(model), images[:10], 4).shape  # a 2-class model
    (10, 2)
    """
    return np.concatenate([function(tf.cast(images[start:start + batch_size], tf.float32)).numpy()
                           for start in range(0, len(images), batch_size)])


def traced_inference(model, *, features=False):
    """`model(images, training=False)` as ONE traced function for any batch size.

    With `features=True`, the frozen part of a classifier instead: raw pixels
    -> pooled features (`training.build_feature_extractor`).

    Tracing a MobileNet costs about a second on a CPU; Keras's `predict_on_batch`
    traces again for a batch of another size (the last, smaller one), this
    function never does. The function is kept for as long as the model lives,
    so evaluating a model again (after stage 1, then at the end; on the
    validation, then the test split) reuses the trace. Weights changed in
    place (`fit`, `set_weights`, `load_weights`) are read when it runs, and
    `trainable` or a recompilation do not change what `training=False`
    computes. A changed structure (other variables, e.g. after
    `model.quantize`, or a layer's activation swapped) is traced again. The
    cache holds the model weakly, so it never keeps a model alive. Images go
    in as float32.

    Example:
    >>> predict = traced_inference(model)
    >>> predict(tf.zeros((3, 128, 128, 3))).shape  # a 2-class model
    TensorShape([3, 2])
    """
    functions = _INFERENCE_FUNCTIONS.setdefault(model, {})
    structure = _structure(model)
    if features not in functions or functions[features][0] != structure:
        if features:
            feature_model = layout.feature_model(model)  # holds the layers, not the model

            def call(images):
                return feature_model(images, training=False)
        else:
            classifier = weakref.ref(model)  # weakly: the cache must not keep it alive

            def call(images):
                return classifier()(images, training=False)
        pixels = (None,) + tuple(model.input_shape[1:])
        functions[features] = (structure, tf.function(
            call, input_signature=[tf.TensorSpec(pixels, tf.float32)]))
    return functions[features][1]


def _structure(model):
    """What a trace depends on besides the weights' values: which variables
    and which activations (a trace keeps the ones it saw)."""
    return (tuple(id(weight) for weight in model.weights),
            tuple(id(getattr(layer, "activation", None)) for layer in model.layers))


# model -> {features?: (structure, traced function)}. Weak keys: an entry goes
# when its model goes (the feature model does not keep its classifier alive).
_INFERENCE_FUNCTIONS = weakref.WeakKeyDictionary()


def predict_with_labels(model, data, *, batch_size=32, keep_images=False):
    """Returns `(images or None, labels, probabilities)` for a dataset or an array tuple.

    A dataset is iterated exactly once and each batch is predicted as it comes,
    so labels stay aligned with predictions even when the dataset reshuffles.

    Args:
        model: a classifier taking raw pixels.
        data: a batched `tf.data.Dataset` of `(images, labels)` or a tuple
            `(images, labels)` of arrays.
        batch_size: batch size when `data` is an array tuple (or an unbatched
            dataset). Defaults to `32`.
        keep_images: also return the images, as one array. Defaults to `False`.

    Returns:
        `(images or None, labels (n,) int64, probabilities (n, num_classes))`.

    Raises:
        TypeError: `data` is neither a dataset nor an `(images, labels)` pair.
        ValueError: the data is empty, or images and labels differ in number.

    Example:
    >>> _, labels, probabilities = predict_with_labels(model, test_ds)
    """
    logits = outputs_logits(model)
    if isinstance(data, tf.data.Dataset):
        if data.element_spec[0].shape.rank == len(model.input_shape) - 1:
            data = data.batch(batch_size)  # an unbatched dataset of single images
        predict = traced_inference(model)
        images, labels, outputs = [], [], []
        for batch in data:
            batch_images, batch_labels = batch[0], batch[1]
            outputs.append(predict(tf.cast(batch_images, tf.float32)).numpy())
            labels.append(np.asarray(batch_labels).reshape(len(outputs[-1]), -1))
            if keep_images:
                images.append(np.asarray(batch_images))
        if not outputs:
            raise ValueError("The dataset is empty: there is nothing to evaluate.")
        images = np.concatenate(images) if keep_images else None
        labels, outputs = np.concatenate(labels), np.concatenate(outputs)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = np.asarray(data[0]), np.asarray(data[1])
        if len(images) != len(labels):
            raise ValueError(
                f"`(images, labels)` must have one label per image; received "
                f"{len(images)} images and {len(labels)} labels."
            )
        outputs = _predict_arrays(model, images, batch_size)
        images = images if keep_images else None
    else:
        raise TypeError(
            f"Data must be a batched tf.data.Dataset of (images, labels) or a tuple "
            f"(images, labels) of arrays; received {type(data).__name__}."
        )
    return images, check_labels(labels), to_probabilities(outputs, logits=logits)
