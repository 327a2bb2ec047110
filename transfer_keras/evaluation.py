"""Scores for a trained classifier: per-class metrics, k-fold cross-validation, comparisons.

Every function accepts the same two kinds of data:
- a batched `tf.data.Dataset` yielding `(images, int labels)`, or
- a tuple `(images, labels)` of numpy arrays (predicted `batch_size` at a time).

Predictions always come out as probabilities of shape `(n, num_classes)`:
a one-unit sigmoid head (P(class 1)) becomes the two columns `[1 - p, p]`,
and a model built with `classifier_activation=None` (logits) gets its softmax
or sigmoid applied here. The metrics themselves are scikit-learn's.
"""

import dataclasses
import weakref

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold, train_test_split

from transfer_keras import layout
from transfer_keras._checks import (
    check_fraction,
    check_labels,
    check_seed,
    check_whole_number,
    is_number,
)
from transfer_keras._keras_compat import build_before_fit
from transfer_keras._table import Table

__all__ = [
    "CrossValidationResult",
    "EvaluationReport",
    "TopLoss",
    "compare",
    "cross_validate",
    "evaluate_classifier",
    "num_classes_of",
    "predict_probabilities",
    "top_losses",
]


# --------------------------------------------------------------------------- predictions


def _outputs_logits(model):
    """True when the model's last layer (`predictions` in a model of this library)
    has no activation: a Dense layer with `activation=None` gives logits."""
    layer = layout.find_predictions(model)
    if layer is None and getattr(model, "layers", None):
        layer = model.layers[-1]  # a model built elsewhere: its output layer
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "linear"


def _to_probabilities(outputs, logits=False):
    """Turns model outputs into `(n, num_classes)` probabilities (1 unit -> [1 - p, p]).

    Outputs said to be probabilities are checked: values outside [0, 1], or
    rows of several units that do not sum to 1, are refused rather than shown
    as probabilities (a model built elsewhere may end in a layer this library
    cannot see through).
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


def num_classes_of(model):
    """Classes the model predicts: its output units, or 2 for one sigmoid unit."""
    units = int(model.output_shape[-1])
    return 2 if units == 1 else units


def predict_probabilities(model, images, batch_size=32):
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
        TypeError: `images` is a dataset (use `evaluate_classifier`) or not numbers.
        ValueError: `images` is empty or does not have the model's input shape,
            or `batch_size` is not a whole number >= 1.
    """
    outputs = _predict_arrays(model, images, batch_size)
    return _to_probabilities(outputs, _outputs_logits(model))


def _predict_arrays(model, images, batch_size):
    """The model's outputs for an array of images, `batch_size` at a time, through
    the model's one traced inference function (`_traced_inference`)."""
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
    return _in_batches(_traced_inference(model), images, batch_size)


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


def _in_batches(function, images, batch_size):
    """`function` (a traced `_traced_inference` function) on an array of images,
    `batch_size` at a time, as one numpy array."""
    return np.concatenate([function(tf.cast(images[start:start + batch_size], tf.float32)).numpy()
                           for start in range(0, len(images), batch_size)])


def _traced_inference(model, features=False):
    """`model(images, training=False)` as ONE traced function for any batch size.

    With `features=True`, the frozen part of a classifier instead: raw pixels
    -> pooled features (`features.build_feature_extractor`).

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


def _predict(model, data, batch_size=32, keep_images=False):
    """Returns `(images or None, labels, probabilities)` for a dataset or an array tuple.

    A dataset is iterated exactly once and each batch is predicted as it comes,
    so labels stay aligned with predictions even when the dataset reshuffles.
    """
    logits = _outputs_logits(model)
    if isinstance(data, tf.data.Dataset):
        if data.element_spec[0].shape.rank == len(model.input_shape) - 1:
            data = data.batch(batch_size)  # an unbatched dataset of single images
        predict = _traced_inference(model)
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
    return images, check_labels(labels), _to_probabilities(outputs, logits)


def _check_labels(labels, num_classes, class_names):
    bad = sorted(set(labels[(labels < 0) | (labels >= num_classes)].tolist()))
    if bad:
        raise ValueError(
            f"Labels must be in 0..{num_classes - 1} for the {num_classes} classes "
            f"{class_names}; received label(s) {bad}. Check that the dataset and the "
            f"model use the same classes."
        )


def _check_class_names(class_names, num_classes, units):
    if class_names is None:
        return [str(index) for index in range(num_classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        head = "one sigmoid unit (P(class 1))" if units == 1 else f"{units} output units"
        raise ValueError(
            f"`class_names` must name the {num_classes} classes of the model ({head}); "
            f"received {len(class_names)}: {class_names}. Pass one name per class, in "
            f"label order."
        )
    return class_names


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass(eq=False)  # holds numpy arrays: compare fields yourself
class EvaluationReport:
    """Accuracy, per-class precision/recall/F1, confusion matrix and the raw predictions.

    Attributes:
        class_names: names of the classes, in label order.
        accuracy: fraction of correct predictions.
        per_class: one dict per class: `class`, `precision`, `recall`, `f1`, `support`.
        macro_avg: unweighted mean of precision/recall/F1 over classes.
        weighted_avg: mean weighted by support.
        confusion_matrix: `(k, k)` counts; rows are true classes, columns predictions.
        y_true: true labels, `(n,)`.
        y_pred: predicted labels, `(n,)`.
        probabilities: `(n, k)` predicted probabilities.
        notes: warnings (e.g. classes never predicted).
    """

    class_names: list
    accuracy: float
    per_class: list
    macro_avg: dict
    weighted_avg: dict
    confusion_matrix: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    notes: list

    @property
    def macro_f1(self):
        """The macro-averaged F1 score (every class counts the same)."""
        return self.macro_avg["f1"]

    def table(self):
        """Returns the report as a `Table`: one row per class, then the averages."""
        columns = ["class", "precision", "recall", "f1", "support"]
        rows = self.per_class + [
            {"class": "macro avg", **self.macro_avg},
            {"class": "weighted avg", **self.weighted_avg},
        ]
        title = f"Accuracy {self.accuracy:.4f} on {len(self.y_true):,} examples"
        return Table(columns, rows, title=title, notes=self.notes)

    def to_dict(self, include_predictions=False):
        """Returns plain, JSON-ready data.

        Args:
            include_predictions: also include `y_true`, `y_pred` and
                `probabilities` as lists. Defaults to `False`.
        """
        result = {
            "class_names": list(self.class_names),
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": [dict(row) for row in self.per_class],
            "macro_avg": dict(self.macro_avg),
            "weighted_avg": dict(self.weighted_avg),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "notes": list(self.notes),
        }
        if include_predictions:
            result["y_true"] = self.y_true.tolist()
            result["y_pred"] = self.y_pred.tolist()
            result["probabilities"] = self.probabilities.tolist()
        return result

    def to_markdown(self):
        """Returns the report table as Markdown."""
        return self.table().to_markdown()

    def __str__(self):
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self):
        return self.table()._repr_html_()


def _scores(row):
    return {
        "precision": float(row["precision"]),
        "recall": float(row["recall"]),
        "f1": float(row["f1-score"]),
        "support": int(row["support"]),
    }


def _report_from_predictions(y_true, probabilities, class_names):
    """Builds an `EvaluationReport` from labels and `(n, k)` probabilities."""
    k = len(class_names)
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(k))
    sk_report = classification_report(
        y_true, y_pred, labels=labels, output_dict=True, zero_division=0
    )
    per_class = [
        {"class": name, **_scores(sk_report[str(index)])}
        for index, name in enumerate(class_names)
    ]
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    notes = []
    never_predicted = [name for name, col in zip(class_names, counts.sum(axis=0)) if col == 0]
    if never_predicted:
        notes.append(
            f"Never predicted: {', '.join(never_predicted)}. Their precision is shown as "
            f"0 (zero_division=0); it is undefined, not measured."
        )
    absent = [row["class"] for row in per_class if row["support"] == 0]
    if absent:
        notes.append(
            f"No examples of: {', '.join(absent)}. Their recall is shown as 0 "
            f"(zero_division=0); it is undefined, not measured."
        )
    return EvaluationReport(
        class_names=list(class_names),
        accuracy=float(np.mean(y_true == y_pred)),
        per_class=per_class,
        macro_avg=_scores(sk_report["macro avg"]),
        weighted_avg=_scores(sk_report["weighted avg"]),
        confusion_matrix=counts,
        y_true=y_true,
        y_pred=y_pred,
        probabilities=probabilities,
        notes=notes,
    )


def evaluate_classifier(model, data, class_names=None, batch_size=32):
    """Scores a classifier: accuracy, per-class precision/recall/F1, confusion matrix.

    A class the model never predicts does not crash the report: its precision
    is 0 by scikit-learn's `zero_division=0` rule and the report's notes name it.

    Args:
        model: a trained classifier (softmax, one sigmoid unit, or logits).
        data: a batched `tf.data.Dataset` of `(images, labels)` or a tuple
            `(images, labels)` of arrays.
        class_names: one name per class, in label order (2 for one sigmoid unit).
            Defaults to `None` (`"0"`, `"1"`, ...).
        batch_size: batch size when `data` is an array tuple. Defaults to `32`.

    Returns:
        An `EvaluationReport` (prints as a table, renders as HTML in notebooks).

    Raises:
        ValueError: `class_names` does not match the model's outputs, labels
            are out of range, or arrays are empty or not of the model's input shape.
        TypeError: `data` is neither a dataset nor an `(images, labels)` tuple.

    Example:
    >>> report = evaluate_classifier(model, test_ds, class_names=["ant", "bee"])
    >>> report.confusion_matrix.shape, 0 <= report.accuracy <= 1
    ((2, 2), True)
    """
    num_classes = num_classes_of(model)
    class_names = _check_class_names(class_names, num_classes, model.output_shape[-1])
    _, labels, probabilities = _predict(model, data, batch_size)
    _check_labels(labels, num_classes, class_names)
    return _report_from_predictions(labels, probabilities, class_names)


# --------------------------------------------------------------------------- cross-validation


@dataclasses.dataclass(eq=False)  # holds numpy arrays: compare fields yourself
class CrossValidationResult:
    """Per-fold scores of a k-fold cross-validation and their mean and spread.

    Attributes:
        table: a `Table` with one row per fold (fold, train size, val size,
            test size, accuracy, macro F1): `train_fn` learns from "train",
            may watch "val" (e.g. for early stopping), and the fold is scored
            on "test", which it never sees.
        mean: `{"accuracy": ..., "macro_f1": ...}` over folds.
        std: the sample standard deviation over folds (`ddof=1`).
        folds: `(train_index, test_index)` arrays, one pair per fold: the
            fold's training part (train and val together) and its held-out part.
        reports: the `EvaluationReport` of each fold, on its held-out part.
        histories: what training returned for each fold (a Keras `History`, or
            your `train_fn`'s return value).
        val_folds: the indices `train_fn` received as validation data, one
            array per fold (empty without `train_fn`).
    """

    table: Table
    mean: dict
    std: dict
    folds: list
    reports: list
    histories: list
    val_folds: list = dataclasses.field(default_factory=list)

    @property
    def summary(self):
        """One line, e.g. `"accuracy 0.810 ± 0.030, macro F1 0.800 ± 0.020 over 5 folds"`."""
        return (
            f"accuracy {self.mean['accuracy']:.3f} ± {self.std['accuracy']:.3f}, "
            f"macro F1 {self.mean['macro_f1']:.3f} ± {self.std['macro_f1']:.3f} "
            f"over {len(self.folds)} folds"
        )

    def to_dict(self):
        """Returns plain, JSON-ready data: the fold table, mean, std and fold sizes."""
        return {
            "summary": self.summary,
            "mean": dict(self.mean),
            "std": dict(self.std),
            "folds": self.table.to_dict()["rows"],
        }

    def __str__(self):
        return f"{self.summary}\n\n{self.table}"

    __repr__ = __str__

    def _repr_html_(self):
        return f"<p>{self.summary}</p>\n{self.table._repr_html_()}"


def _compile_if_needed(model):
    """Compiles an uncompiled model with Adam and the loss matching its head."""
    if getattr(model, "optimizer", None) is not None:
        return model
    from_logits = _outputs_logits(model)
    if model.output_shape[-1] == 1:
        loss = keras.losses.BinaryCrossentropy(from_logits=from_logits)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    return model


def _check_folds(k, labels, class_names):
    """Returns `k` as an int: at least 2 and at most the smallest class's count."""
    k = check_whole_number(k, "k", 2, what="a whole number of folds", hint="Use e.g. k=5.")
    values, counts = np.unique(labels, return_counts=True)
    smallest = int(counts.argmin())
    if k > counts[smallest]:
        label = int(values[smallest])
        name = class_names[label] if class_names is not None else f"label {label}"
        raise ValueError(
            f"`k`={k} is more than the {counts[smallest]} examples of class {name!r}; "
            f"stratified k-fold needs at least k examples of every class. Use "
            f"k <= {counts[smallest]} or collect more examples of {name!r}."
        )
    return k


def _carve_validation(train_index, labels, val_fraction, seed):
    """Splits a fold's training indices into (train, val), stratified by class."""
    try:
        learn, watch = train_test_split(train_index, test_size=val_fraction,
                                        stratify=labels[train_index], random_state=seed)
    except ValueError as error:
        raise ValueError(
            f"`val_fraction`={val_fraction} cannot carve a stratified validation part "
            f"from a fold's {len(train_index)} training examples ({error}). Use a larger "
            f"`val_fraction`, a smaller `k`, or more examples per class."
        ) from None
    return np.sort(learn), np.sort(watch)


def cross_validate(build_fn, images, labels, k=5, epochs=5, batch_size=32, seed=0,
                   train_fn=None, verbose=0, class_names=None, val_fraction=0.2):
    """Stratified k-fold cross-validation: a fresh model per fold, trained and scored.

    Every fold keeps the class proportions of the whole set. Each fold's model
    comes from `build_fn()`; if it is not compiled yet, it is compiled with Adam
    and (sparse categorical or binary) cross-entropy. Each fold is scored on its
    held-out part, which training never sees: a `train_fn` receives a
    validation part carved (stratified, `val_fraction`) from the OTHER folds,
    so early stopping on it cannot leak the score into training.

    Args:
        build_fn: a function with no arguments that returns a new model.
        images: array of images, `(n, height, width, channels)`.
        labels: array of `n` integer labels.
        k: number of folds. Defaults to `5`.
        epochs: epochs per fold when `train_fn` is `None`. Defaults to `5`.
        batch_size: batch size for training and evaluation. Defaults to `32`.
        seed: seeds the fold split, the validation carving and each fold's
            model (`seed + fold`). Defaults to `0`.
        train_fn: `train_fn(model, train_images, train_labels, val_images,
            val_labels)` to train a fold your way (e.g. the two-stage recipe
            with early stopping on the val part). Defaults to `None`
            (`model.fit` for `epochs` on all the training folds, no validation).
        verbose: passed to `model.fit`. Defaults to `0`.
        class_names: names for the per-fold reports and errors. Defaults to `None`.
        val_fraction: the share of the training folds given to `train_fn` as
            validation data. Defaults to `0.2`.

    Returns:
        A `CrossValidationResult` (prints as "accuracy 0.810 ± 0.030 ... over 5
        folds"; the ± is the standard deviation over folds with `ddof=1`).

    Raises:
        ValueError: `k < 2`, `k` larger than the smallest class, images and
            labels of different lengths, labels that are not whole numbers, one
            class only, labels beyond the model's classes (checked on the first
            fold's new model, before it trains), `epochs < 1`, or a
            `val_fraction` that cannot give every class a validation example.
        TypeError: `build_fn` is a model rather than a function, or returns
            something other than a model.

    Example:
    >>> build = lambda: build_classifier("mobilenet", 2, (128, 128, 3), weights=path,
    ...                                  alpha=0.25)
    >>> result = cross_validate(build, images, labels, k=3, epochs=1)
    >>> print(result.summary)  # doctest: +ELLIPSIS
    accuracy 0... ± 0..., macro F1 0... ± 0... over 3 folds
    """
    images, labels = np.asarray(images), check_labels(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"`images` and `labels` must have the same length; received {len(images)} "
            f"images and {len(labels)} labels."
        )
    if isinstance(build_fn, keras.Model) or not callable(build_fn):
        raise TypeError(
            f"`build_fn` must be a function with no arguments that returns a NEW model "
            f"(one per fold); received {type(build_fn).__name__}. Wrap the call that "
            f"builds it, e.g. build_fn=lambda: build_classifier(...).")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"`labels` hold one class only ({labels[0] if len(labels) else '-'}); "
                         f"cross-validating a classifier needs at least two classes.")
    k = _check_folds(k, labels, class_names)
    epochs = check_whole_number(epochs, "epochs", hint="Use e.g. epochs=5.")
    val_fraction = check_fraction(val_fraction, "val_fraction", "(0, 1)")
    seed = check_seed(seed)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds, val_folds, reports, histories, rows = [], [], [], [], []
    for fold, (train_index, test_index) in enumerate(splitter.split(images, labels), 1):
        keras.utils.set_random_seed(seed + fold)
        model = build_fn()
        if not isinstance(model, keras.Model):
            raise TypeError(f"`build_fn` must return a keras.Model; it returned "
                            f"{type(model).__name__}. Does it end with `return model`?")
        _check_labels(labels, num_classes_of(model), class_names or "of the model")
        model = _compile_if_needed(model)
        test = images[test_index], labels[test_index]
        if train_fn is not None:
            learn_index, val_index = _carve_validation(train_index, labels, val_fraction,
                                                       seed + fold)
            history = train_fn(model, images[learn_index], labels[learn_index],
                               images[val_index], labels[val_index])
        else:  # nothing watches a validation set: train on all the training folds
            learn_index, val_index = train_index, np.array([], dtype=int)
            build_before_fit(model, (images[:1], labels[:1]))  # one trace, not two
            history = model.fit(images[train_index], labels[train_index], epochs=epochs,
                                batch_size=batch_size, verbose=verbose)
        report = evaluate_classifier(model, test, class_names, batch_size=batch_size)
        folds.append((train_index, test_index))
        val_folds.append(val_index)
        reports.append(report)
        histories.append(history)
        rows.append({"fold": fold, "train size": len(learn_index),
                     "val size": len(val_index), "test size": len(test_index),
                     "accuracy": report.accuracy, "macro F1": report.macro_f1})
    scores = {"accuracy": [r.accuracy for r in reports],
              "macro_f1": [r.macro_f1 for r in reports]}
    mean = {name: float(np.mean(values)) for name, values in scores.items()}
    std = {name: float(np.std(values, ddof=1)) for name, values in scores.items()}
    table = Table(["fold", "train size", "val size", "test size", "accuracy", "macro F1"],
                  rows, title=f"Stratified {k}-fold cross-validation (each fold scored on "
                              f"its held-out test part)")
    return CrossValidationResult(table, mean, std, folds, reports, histories, val_folds)


# --------------------------------------------------------------------------- comparisons


_COMPARE_KEYS = {"report", "accuracy", "macro_f1", "trainable_params", "train_seconds"}


def _comparison_row(name, result):
    if isinstance(result, (EvaluationReport, CrossValidationResult)):
        result = {"report": result}
    if not isinstance(result, dict):
        raise TypeError(
            f"`results[{name!r}]` must be an EvaluationReport, a CrossValidationResult "
            f"or a dict; received {type(result).__name__}."
        )
    unknown = sorted(set(result) - _COMPARE_KEYS)
    if unknown:
        raise ValueError(
            f"`results[{name!r}]` has unknown key(s) {unknown}; allowed keys are "
            f"{sorted(_COMPARE_KEYS)}."
        )
    values = {}
    report = result.get("report")
    if isinstance(report, EvaluationReport):
        values = {"accuracy": report.accuracy, "macro_f1": report.macro_f1}
    elif isinstance(report, CrossValidationResult):
        values = dict(report.mean)  # mean over folds
    values.update({key: value for key, value in result.items() if key != "report"})
    for key in ("accuracy", "macro_f1"):  # scores between 0 and 1, or None (not measured)
        value = values.get(key)
        if value is not None and not (is_number(value) and 0 <= value <= 1):
            raise ValueError(
                f"`results[{name!r}]['{key}']` must be a number from 0 to 1 (or None); "
                f"received {value!r}. Pass a fraction (0.9, not 90), as a number.")
    for key in ("trainable_params", "train_seconds"):
        value = values.get(key)
        if value is not None and not (is_number(value) and value >= 0):
            raise ValueError(f"`results[{name!r}]['{key}']` must be a number >= 0 (or "
                             f"None); received {value!r}.")
    return {
        "run": str(name),
        "accuracy": values.get("accuracy"),
        "macro F1": values.get("macro_f1"),
        "trainable params": values.get("trainable_params"),
        "training time s": values.get("train_seconds"),
    }


def compare(results):
    """Puts several runs side by side: accuracy, macro F1, trainable params, training time.

    Args:
        results: a dict `run name -> result`, where a result is an
            `EvaluationReport`, a `CrossValidationResult` (its mean is used), or a
            dict with keys among `report`, `accuracy`, `macro_f1`,
            `trainable_params`, `train_seconds`.

    Returns:
        A `Table` with columns `run, accuracy, macro F1, trainable params,
        training time s`; a note names the run with the best accuracy.

    Raises:
        ValueError: `results` is empty or a dict has unknown keys.
        TypeError: `results` is not a dict, or a result has an unsupported type.

    Example:
    >>> table = compare({"frozen": frozen_report,
    ...                  "fine-tuned": {"report": tuned_report, "train_seconds": 41.0}})
    """
    if not isinstance(results, dict):
        raise TypeError(
            f"`results` must be a dict of run name -> result; received "
            f"{type(results).__name__}."
        )
    if not results:
        raise ValueError("`results` is empty; pass at least one run to compare.")
    rows = [_comparison_row(name, result) for name, result in results.items()]
    notes = []
    scored = [row for row in rows if row["accuracy"] is not None]
    if scored:
        best = max(scored, key=lambda row: row["accuracy"])
        notes.append(f"Best accuracy: {best['run']} ({best['accuracy']:.4f}).")
    columns = ["run", "accuracy", "macro F1", "trainable params", "training time s"]
    return Table(columns, rows, title="Comparison", notes=notes)


# --------------------------------------------------------------------------- top losses


@dataclasses.dataclass(frozen=True)
class TopLoss:
    """One misclassified example.

    Attributes:
        index: position of the example in the data, in iteration order.
        image: the raw pixels, as given.
        true_label: the correct label.
        predicted_label: the model's (wrong) label.
        probability: the probability the model gave its predicted label.
        loss: the example's cross-entropy loss, `-log P(true label)`.
    """

    index: int
    image: np.ndarray
    true_label: int
    predicted_label: int
    probability: float
    loss: float


def top_losses(model, data, k=9, batch_size=32):
    """Returns the `k` most confidently wrong examples, highest loss first.

    Only misclassified examples are considered, so fewer than `k` (even none)
    may come back. Looking at them is the quickest way to find label noise and
    confusing classes.

    Args:
        model: a trained classifier.
        data: a batched `tf.data.Dataset` of `(images, labels)` or a tuple
            `(images, labels)` of arrays. A dataset is read once; `index` refers
            to that pass.
        k: how many examples to return at most. Defaults to `9`.
        batch_size: batch size when `data` is an array tuple. Defaults to `32`.

    Returns:
        A list of `TopLoss`, sorted by `loss` descending.

    Raises:
        ValueError: `k` is not a whole number >= 1, or arrays are empty or not
            of the model's input shape.

    Example:
    >>> worst = top_losses(model, test_ds, k=4)
    >>> len(worst), worst[0].loss >= worst[-1].loss  # the worst first
    (4, True)
    """
    k = check_whole_number(k, "k")
    images, labels, probabilities = _predict(model, data, batch_size, keep_images=True)
    _check_labels(labels, probabilities.shape[1], list(range(probabilities.shape[1])))
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(labels))
    losses = -np.log(np.clip(probabilities[rows, labels], 1e-12, 1.0))
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-losses[wrong], kind="stable")][:k]
    return [
        TopLoss(index=int(i), image=images[i], true_label=int(labels[i]),
                predicted_label=int(predicted[i]),
                probability=float(probabilities[i, predicted[i]]), loss=float(losses[i]))
        for i in worst
    ]
