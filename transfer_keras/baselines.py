"""The baselines a sceptical reader asks for before believing a transfer result.

- `majority_baseline`: always the most frequent training class.
- `pixels_logistic`: logistic regression on raw, downsized pixels.
- `linear_probe`: logistic regression on a frozen backbone's pooled features.
- `imagenet_head`: no training at all: the source network's own ImageNet head,
  choosing among the ImageNet classes that name the target classes (when
  they exist: ants and bees do), the first thing a sceptic asks about.
- `build_small_cnn`: a compact CNN to train from scratch, suited to a few
  hundred images (the fair "no transfer" model).

The two logistic regressions standardise their inputs and choose the
regularisation strength `C` on the validation set, never on the test set.
Each returns a `BaselineScore` with the test accuracy and what was chosen.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from transfer_keras import efficientnet_lite, layout
from transfer_keras._checks import check_labels, check_whole_number, is_whole_number
from transfer_keras.inference import in_batches, traced_inference

LOGISTIC_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
PIXELS_SIDE = 32


@dataclasses.dataclass(frozen=True)
class BaselineScore:
    """A baseline's test accuracy and what was chosen on the validation set.

    Attributes:
        accuracy: the test accuracy.
        val_accuracy: the validation accuracy of what was chosen (NaN when
            nothing is chosen on validation data).
        chosen: what was chosen, e.g. `{"C": 0.1}`.
    """

    accuracy: float
    val_accuracy: float
    chosen: dict


def majority_baseline(train_labels, test_labels):
    """Test accuracy of always predicting the most frequent training class.

    Args:
        train_labels: integer labels of the training set.
        test_labels: integer labels of the test set.

    Returns:
        A `BaselineScore` (`chosen`: the predicted class).

    Example:
    >>> majority_baseline([0, 0, 1], [0, 1, 1, 1]).accuracy
    0.25
    """
    train_labels = _nonempty(check_labels(train_labels, "train_labels"), "train_labels")
    test_labels = _nonempty(check_labels(test_labels, "test_labels"), "test_labels")
    majority = int(np.bincount(train_labels).argmax())
    return BaselineScore(float(np.mean(test_labels == majority)), float("nan"),
                         {"class": majority})


def _nonempty(labels, name):
    if not len(labels):
        raise ValueError(f"`{name}` is empty; a baseline needs at least one example.")
    return labels


def _checked_part(name, part, what):
    """One `(inputs, labels)` pair as arrays, or a ValueError/TypeError naming the part."""
    if not isinstance(part, (tuple, list)) or len(part) != 2:
        raise TypeError(
            f"`{name}` must be a pair ({what}, labels) of arrays; received "
            f"{type(part).__name__}. A tf.data.Dataset can be turned into arrays with "
            f"`tk.dataset_to_arrays(dataset)`.")
    inputs = np.asarray(part[0])
    if inputs.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` {what} must be numbers; received an array of "
                        f"{inputs.dtype}.")
    labels = _nonempty(check_labels(part[1], f"{name} labels"), f"{name} labels")
    if len(inputs) != len(labels):
        raise ValueError(f"`{name}` must have one label per example; received "
                         f"{len(inputs)} {what} and {len(labels)} labels.")
    if not np.isfinite(inputs).all():
        raise ValueError(f"`{name}` {what} hold NaN or infinite values; "
                         f"{np.size(inputs) - np.isfinite(inputs).sum()} of them.")
    return inputs, labels


def _checked_parts(train, val, test, what="features"):
    """The three `(inputs, labels)` pairs as arrays, or a ValueError/TypeError naming the part."""
    parts = [_checked_part(name, part, what)
             for name, part in (("train", train), ("val", val), ("test", test))]
    if len(np.unique(parts[0][1])) < 2:
        raise ValueError(f"`train` labels hold one class only ({parts[0][1][0]}); logistic "
                         f"regression needs examples of at least two classes.")
    return parts


def logistic_regression(train, val, test):
    """Logistic regression on feature vectors: standardised, `C` chosen on `val`.

    Args:
        train, val, test: `(features, labels)` pairs; features `(n, d)`.

    Returns:
        A `BaselineScore` (`chosen`: `C` from `LOGISTIC_C_GRID`).

    Example:
    >>> score = logistic_regression((f_train, y_train), (f_val, y_val), (f_test, y_test))
    """
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _checked_parts(train, val, test)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val, x_test = (scaler.transform(x) for x in (x_train, x_val, x_test))
    best = None
    # One BLAS thread: these matrices are small, and next to TensorFlow's busy
    # threads a multi-threaded BLAS waits more than it works (8.7 s instead of
    # 0.3 s for pixels_logistic on the kit's photos, with the same result).
    with threadpool_limits(limits=1, user_api="blas"):
        for c in LOGISTIC_C_GRID:
            classifier = LogisticRegression(C=c, max_iter=5000).fit(x_train, y_train)
            val_accuracy = classifier.score(x_val, y_val)
            if best is None or val_accuracy > best[0]:  # ties keep the stronger regulariser
                best = (val_accuracy, c, classifier)
    val_accuracy, c, classifier = best
    return BaselineScore(float(classifier.score(x_test, y_test)), float(val_accuracy),
                         {"C": c})


def pooled_features(model, *image_sets, batch_size=64):
    """The frozen backbone's pooled features of raw [0, 255] images, as numpy.

    Several image sets go through ONE traced extractor, the one that
    `extract_features` and stage 1 use for the same model.

    Args:
        model: a model from `build_classifier`.
        *image_sets: one or more `(n, h, w, 3)` arrays of raw images.
        batch_size: images per forward pass. Defaults to `64`.

    Returns:
        A float32 array `(n, feature width)` per image set: one array for one
        set, else a list in the same order.

    Raises:
        ValueError: the sets hold no image at all, or `batch_size` is not a
            positive whole number.
    """
    batch_size = check_whole_number(batch_size, "batch_size")
    counts = [len(images) for images in image_sets]
    if not sum(counts):
        raise ValueError(f"`image_sets` must hold at least one image; received "
                         f"{len(counts)} set(s) of sizes {counts}. Pass at least one "
                         f"non-empty (n, h, w, 3) array of images.")
    sizes = np.cumsum(counts)[:-1]
    images = np.concatenate([np.asarray(images, np.float32) for images in image_sets])
    # The same trace as extract_features.
    features = in_batches(traced_inference(model, features=True), images, batch_size)
    parts = np.split(features, sizes)
    return parts[0] if len(parts) == 1 else parts


def _downsized(images, side):
    resized = tf.image.resize(tf.cast(images, tf.float32), (side, side), method="area")
    return resized.numpy().reshape(len(images), -1)


def pixels_logistic(train, val, test, *, side=PIXELS_SIDE):
    """Logistic regression on raw pixels, downsized to `side` x `side`.

    Args:
        train, val, test: `(images, labels)` pairs; images `(n, h, w, c)` in [0, 255].
        side: the side images are shrunk to (area averaging). Defaults to `32`.

    Returns:
        A `BaselineScore` (`chosen`: `C`, picked on `val`).

    Example:
    >>> score = pixels_logistic((x_train, y_train), (x_val, y_val), (x_test, y_test))
    """
    side = check_whole_number(side, "side", hint="Use e.g. side=32.")
    parts = _checked_parts(train, val, test, what="images")
    return logistic_regression(*[(_downsized(images, side), labels) for images, labels in parts])


def imagenet_head(test, imagenet_classes, *, batch_size=64):
    """Test accuracy of EfficientNet-Lite0's ImageNet head, with no training on the task.

    For each image the 1000-class head's probabilities of the given ImageNet
    classes are compared, and the highest wins: target class `i` is ImageNet
    class `imagenet_classes[i]`. Score it at 224 px, the head's own size.

    Args:
        test: `(images, labels)` of raw [0, 255] images (any size from 32).
        imagenet_classes: one ImageNet-1k index per target class, e.g.
            `[310, 309]` for ants and bees.
        batch_size: images per forward pass. Defaults to `64`.

    Returns:
        A `BaselineScore` (`val_accuracy` NaN: nothing is chosen; `chosen`:
        the ImageNet classes).

    Raises:
        ValueError: a class index outside 0..999, or fewer indices than classes.
        TypeError: a class index that is not a whole number.

    Example:
    >>> imagenet_head((x_test, y_test), [310, 309]).accuracy > 0.5  # doctest: +SKIP
    True
    """
    images, labels = _checked_part("test", test, "images")
    indices = list(imagenet_classes)
    if not indices or not all(is_whole_number(i) and 0 <= i < 1000 for i in indices):
        error = ValueError if all(map(is_whole_number, indices)) else TypeError
        raise error(f"`imagenet_classes` must be ImageNet-1k class indices (0 to 999), one "
                    f"per target class; received {imagenet_classes!r}. Ants and bees are "
                    f"e.g. [310, 309].")
    if labels.max() >= len(indices):
        raise ValueError(f"`imagenet_classes` names {len(indices)} classes but the labels go "
                         f"up to {labels.max()}; give one ImageNet index per target class.")
    network = efficientnet_lite.EfficientNetLite0(include_top=True,
                                                  input_shape=images.shape[1:])
    probabilities = network.predict(efficientnet_lite.preprocess_input(
        np.asarray(images, "float32")), batch_size=batch_size, verbose=0)
    predictions = np.argmax(probabilities[:, indices], axis=-1)
    return BaselineScore(float(np.mean(predictions == labels)), float("nan"),
                         {"imagenet_classes": indices})


def linear_probe(model, train, val, test, *, batch_size=64):
    """Logistic regression on a classifier's frozen, pooled backbone features.

    Args:
        model: a model from `build_classifier` (only its frozen part is used).
        train, val, test: `(images, labels)` pairs of raw [0, 255] images.
        batch_size: images per forward pass. Defaults to `64`.

    Returns:
        A `BaselineScore` (`chosen`: `C`, picked on `val`).

    Example:
    >>> model = build_classifier("mobilenet", 2, input_shape=(128, 128, 3), weights=path,
    ...                          alpha=0.25)
    >>> probe = linear_probe(model, (x_train, y_train), (x_val, y_val), (x_test, y_test))
    >>> 0.5 < probe.accuracy <= 1
    True
    """
    parts = _checked_parts(train, val, test, what="images")
    features = pooled_features(model, *[images for images, _ in parts], batch_size=batch_size)
    return logistic_regression(*[(f, labels) for f, (_, labels) in zip(features, parts)])


def build_small_cnn(num_classes, input_shape, *, filters=(16, 32, 64), dropout=0.5,
                    augmentation=None, working_size=64):
    """Builds a compact CNN to train from scratch on raw [0, 255] pixels.

    Larger images are first shrunk to `working_size` (area averaging), a
    strided stem halves them again, then each block is conv 3x3 -> BatchNorm
    -> ReLU -> 2x2 max pooling; then global average pooling, dropout and the
    softmax layer `predictions`. Small on purpose: with a few hundred images a
    large network only memorises, and fine detail cannot be learned from them.

    Args:
        num_classes: number of classes (2 or more).
        input_shape: `(height, width, channels)` of the raw images.
        filters: channels of the blocks. Defaults to `(16, 32, 64)`.
        dropout: dropout rate before the last layer. Defaults to `0.5`.
        working_size: side the images are shrunk to inside the model when they
            are larger; `None` keeps them as they are. Defaults to `64`.
        augmentation: a Keras layer applied to the raw pixels in training.
            Defaults to `None`.

    Returns:
        A `keras.Model`, every layer trainable.

    Example:
    >>> build_small_cnn(2, (64, 64, 3)).output_shape
    (None, 2)
    """
    num_classes = check_whole_number(num_classes, "num_classes", 2)
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs if augmentation is None else augmentation(inputs)
    if working_size and max(input_shape[:2]) > working_size:
        x = keras.layers.Resizing(working_size, working_size, interpolation="area",
                                  name="shrink")(x)
    x = keras.layers.Rescaling(1 / 255, name="rescaling")(x)
    x = keras.layers.Conv2D(filters[0] // 2, 5, strides=2, padding="same",
                            use_bias=False, name="stem")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for index, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                name=f"block{index}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"block{index}_bn")(x)
        x = keras.layers.ReLU(name=f"block{index}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"block{index}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name=layout.POOLING)(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=layout.DROPOUT)(x)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax",
                                 name=layout.PREDICTIONS, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="small_cnn")
