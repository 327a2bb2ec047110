"""Scores for a trained classifier: per-class metrics, k-fold cross-validation, comparisons.

Every function accepts the same two kinds of data:
- a batched `tf.data.Dataset` yielding `(images, int labels)`, or
- a tuple `(images, labels)` of numpy arrays (predicted `batch_size` at a time).

Predictions come from `inference` as probabilities of shape `(n, num_classes)`,
whatever the head (softmax, one sigmoid unit, logits). The metrics themselves
are scikit-learn's. Grad-CAM and the top losses live in `interpret`.
"""

import dataclasses

import keras
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold, train_test_split

from transfer_keras._checks import (
    check_class_names,
    check_epochs,
    check_fraction,
    check_labels,
    check_seed,
    check_whole_number,
    is_number,
)
from transfer_keras._keras_compat import build_before_fit
from transfer_keras._table import Table
from transfer_keras.inference import loss_for, num_classes_of, predict_with_labels

__all__ = [
    "CrossValidationResult",
    "EvaluationReport",
    "compare",
    "cross_validate",
    "evaluate_classifier",
]


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass(frozen=True, eq=False)  # holds numpy arrays: compare fields yourself
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

    def to_dict(self, *, include_predictions=False):
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


def evaluate_classifier(model, data, *, class_names=None, batch_size=32):
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
        TypeError: `data` is neither a dataset nor an `(images, labels)` tuple,
            `class_names` is not a list of str, or `batch_size` not a whole number.

    Example:
    >>> report = evaluate_classifier(model, test_ds, class_names=["ant", "bee"])
    >>> report.confusion_matrix.shape, 0 <= report.accuracy <= 1
    ((2, 2), True)
    """
    num_classes = num_classes_of(model)
    class_names = ([str(index) for index in range(num_classes)] if class_names is None
                   else check_class_names(class_names, num_classes))
    _, labels, probabilities = predict_with_labels(model, data, batch_size=batch_size)
    check_labels(labels, num_classes=num_classes)
    return _report_from_predictions(labels, probabilities, class_names)


# --------------------------------------------------------------------------- cross-validation


@dataclasses.dataclass(frozen=True, eq=False)  # holds numpy arrays: compare fields yourself
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
    """Compiles an uncompiled model with Adam and the loss matching its head (`loss_for`)."""
    if getattr(model, "optimizer", None) is not None:
        return model
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss_for(model), metrics=["accuracy"])
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


def cross_validate(build_fn, images, labels, *, k=5, epochs=5, batch_size=32, seed=0,
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
            something other than a model; `k`, `epochs` or `seed` is not a whole
            number, `val_fraction` not a number, or labels or `class_names` are
            not what they should be (e.g. strings as labels).

    Example:
    >>> build = lambda: build_classifier("mobilenet", 2, input_shape=(128, 128, 3), weights=path,
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
    if class_names is not None:
        class_names = check_class_names(class_names)
    k = _check_folds(k, labels, class_names)
    epochs = check_epochs(epochs)
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
        check_labels(labels, num_classes=num_classes_of(model))
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
        report = evaluate_classifier(model, test, class_names=class_names,
                                     batch_size=batch_size)
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
            error = ValueError if is_number(value) else TypeError
            raise error(
                f"`results[{name!r}]['{key}']` must be a number from 0 to 1 (or None); "
                f"received {value!r}. Pass a fraction (0.9, not 90), as a number.")
    for key in ("trainable_params", "train_seconds"):
        value = values.get(key)
        if value is not None and not (is_number(value) and value >= 0):
            error = ValueError if is_number(value) else TypeError
            raise error(f"`results[{name!r}]['{key}']` must be a number >= 0 (or "
                        f"None); received {value!r}. Pass the measured number, e.g. 12.5.")
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
        ValueError: `results` is empty, a dict has unknown keys, or a score is
            out of range.
        TypeError: `results` is not a dict, a result has an unsupported type,
            or a score is not a number.

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
