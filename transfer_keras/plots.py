"""Every figure of the library: sample grids, learning curves, confusion matrix, Grad-CAM.

The numbers behind the figures come from elsewhere: Grad-CAM and the top losses
from `interpret`, the report from `evaluation`.

Figures are built as `matplotlib.figure.Figure` objects, never through
`pyplot`: nothing opens a window or blocks a script, and a notebook shows each
figure exactly once (the value of the cell). Save one with
`figure.savefig("name.png")`.

This module is imported separately (`from transfer_keras import plots`) so the
rest of the library works without matplotlib's display machinery.
"""

import math
import sys

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from transfer_keras._checks import (
    check_class_names,
    check_fraction,
    check_labels,
    check_whole_number,
)
from transfer_keras.evaluation import EvaluationReport
from transfer_keras.interpret import compute_grad_cam

__all__ = [
    "plot_confusion_matrix",
    "plot_data_efficiency",
    "plot_grad_cam",
    "plot_history",
    "plot_learning_rate_finder",
    "plot_learning_rate_schedules",
    "plot_top_losses",
    "show_batch",
]

_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "binary_accuracy",
                  "categorical_accuracy")


# --------------------------------------------------------------------------- helpers


def _shown_in_notebooks(figure):
    """Returns `figure`, first letting IPython draw Figures as PNG pictures if it cannot yet.

    IPython registers a picture formatter for Figures only when a plotting
    backend is switched on (`%matplotlib inline`); these figures never touch
    pyplot, so a notebook without that line would print `<Figure ...>`. This
    registers PNG once, at the first returned figure, and leaves any formatter
    the user chose (SVG, retina, a widget backend) alone. Outside IPython it
    does nothing.
    """
    ipython = sys.modules.get("IPython")  # not imported: not running in IPython
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "display_formatter"):
        formatter = shell.display_formatter
        if not any(_formats(f, Figure) for f in
                   [*formatter.formatters.values(), formatter.ipython_display_formatter]):
            from IPython.core.pylabtools import select_figure_formats

            select_figure_formats(shell, {"png"})
    return figure


def _formats(formatter, kind):
    """Whether an IPython display formatter has a printer for objects of type `kind`."""
    try:
        formatter.lookup_by_type(kind)
    except KeyError:
        return False
    return True


def _grid(count, size=2.2):
    """Returns a Figure and `count` axes arranged in a near-square grid (ticks off)."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    figure = Figure(figsize=(size * columns, size * rows + 0.3), layout="constrained")
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(count)]
    for ax in axes:
        ax.axis("off")
    return figure, axes


def _displayable(image):
    """Raw pixels in [0, 255] (or floats in [0, 1]) -> uint8, gray images squeezed."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype("float32")
        if image.size and image.max() <= 1.0:
            image = image * 255.0  # already scaled to [0, 1]
        image = np.clip(image, 0, 255).astype("uint8")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def _show(ax, image):
    image = _displayable(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)


def _name(label, class_names):
    return str(class_names[label]) if class_names is not None else str(label)


def _take(data, n):
    """First `n` `(images, labels)` from a dataset or an array tuple."""
    if isinstance(data, tf.data.Dataset):
        images, labels = [], []
        for batch in data:
            batch_images, batch_labels = np.asarray(batch[0]), np.asarray(batch[1])
            if batch_images.ndim == 3:  # an unbatched dataset of single images
                batch_images, batch_labels = batch_images[None], batch_labels[None]
            images.extend(batch_images)
            labels.extend(batch_labels.reshape(len(batch_images), -1)[:, 0])
            if len(images) >= n:
                break
        return np.asarray(images[:n]), np.asarray(labels[:n], dtype="int64")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = np.asarray(data[0]), check_labels(data[1], "data labels")
        if len(images) != len(labels):
            raise ValueError(f"`data` must have one label per image; received {len(images)} "
                             f"images and {len(labels)} labels.")
        return images[:n], labels[:n]
    raise TypeError(
        f"`data` must be a tf.data.Dataset of (images, labels) or a tuple (images, "
        f"labels); received {type(data).__name__}."
    )


# --------------------------------------------------------------------------- samples


def show_batch(data, *, class_names=None, n=16, predictions=None):
    """Shows a grid of images titled with their class (and prediction, if given).

    Args:
        data: a `tf.data.Dataset` of `(images, labels)` or a tuple of arrays;
            pixels in [0, 255].
        class_names: names in label order. Defaults to `None` (numbers).
        n: how many images to show at most. Defaults to `16`.
        predictions: predicted labels `(n,)` or probabilities `(n, k)` for the
            same images; wrong ones get red titles. Defaults to `None`.

    Returns:
        A `matplotlib.figure.Figure` with one axes per image.

    Raises:
        ValueError: `n` < 1, the data is empty, images and labels (or
            predictions) of different lengths, or too few `class_names`.
        TypeError: `n` is not a whole number or `class_names` not a list of str.

    Example:
    >>> figure = show_batch(train_ds, class_names=["ant", "bee"], n=9)
    """
    n = check_whole_number(n, "n")
    if class_names is not None:
        class_names = check_class_names(class_names)
    images, labels = _take(data, n)
    if len(images) == 0:
        raise ValueError("`data` is empty: there are no images to show.")
    if predictions is not None:
        predictions = np.asarray(predictions)
        if predictions.ndim == 2:
            predictions = predictions.argmax(axis=1)
        if len(predictions) < len(images):
            raise ValueError(f"`predictions` must cover the {len(images)} images shown; "
                             f"received {len(predictions)}. Predict the same images, in order.")
    shown = set(labels.tolist()) | (set() if predictions is None
                                    else set(predictions[:len(images)].astype(int).tolist()))
    if class_names is not None and max(shown) >= len(class_names):
        raise ValueError(f"`class_names` must name every class shown (labels up to "
                         f"{max(shown)}); received {len(class_names)}: {list(class_names)}.")
    figure, axes = _grid(len(images))
    for i, (ax, image, label) in enumerate(zip(axes, images, labels)):
        _show(ax, image)
        if predictions is None:
            ax.set_title(_name(label, class_names), fontsize=9)
        else:
            guess = int(predictions[i])
            ax.set_title(f"pred: {_name(guess, class_names)}\ntrue: "
                         f"{_name(label, class_names)}", fontsize=9,
                         color="black" if guess == label else "red")
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- training curves


def plot_history(history, *, fine_tune_epoch=None):
    """Plots loss and accuracy per epoch (train and validation), marking where fine-tuning starts.

    Args:
        history: a Keras `History`, a dict of lists, or an object with a
            `.history` dict and optionally `.fine_tune_epoch` (the merged
            two-stage history).
        fine_tune_epoch: index (0-based) of the first fine-tuning epoch; a
            dashed line is drawn before it. Defaults to `None` (taken from
            `history.fine_tune_epoch` when present, otherwise no line).

    Returns:
        A `matplotlib.figure.Figure` with two axes: loss and accuracy.

    Raises:
        ValueError: no `loss` in the history, or `fine_tune_epoch` out of range.
        TypeError: `history` is neither a History nor a dict, or
            `fine_tune_epoch` is not a whole number.

    Example:
    >>> figure = plot_history(history)  # history = model.fit(...) or the two-stage result
    """
    if fine_tune_epoch is None:
        fine_tune_epoch = getattr(history, "fine_tune_epoch", None)
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        found = sorted(logs) if isinstance(logs, dict) else type(logs).__name__
        raise (ValueError if isinstance(logs, dict) else TypeError)(
            f"`history` must be a Keras History or a dict of per-epoch lists with at "
            f"least 'loss'; received {found}."
        )
    epochs = np.arange(1, len(logs["loss"]) + 1)
    if fine_tune_epoch is not None:
        fine_tune_epoch = check_whole_number(fine_tune_epoch, "fine_tune_epoch", 0,
                                             len(epochs), what="an epoch index")
    accuracy_key = next((key for key in _ACCURACY_KEYS if key in logs), None)
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    for ax, key, title in [(loss_ax, "loss", "Loss"), (accuracy_ax, accuracy_key, "Accuracy")]:
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key is None:
            ax.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        ax.plot(epochs, logs[key], "o-", label="train")
        if f"val_{key}" in logs:
            ax.plot(epochs, logs[f"val_{key}"], "o-", label="validation")
        if fine_tune_epoch is not None:
            ax.axvline(fine_tune_epoch + 0.5, color="gray", linestyle="--",
                       label="fine-tuning starts")
        ax.legend()
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- confusion matrix


def plot_confusion_matrix(report_or_matrix, *, class_names=None, normalize=False):
    """Plots a confusion matrix (rows: true class, columns: predicted class).

    Args:
        report_or_matrix: an `EvaluationReport` or a square array of counts.
        class_names: names in label order. Defaults to `None` (the report's
            names, or numbers).
        normalize: show each row as fractions (the diagonal is then each
            class's recall). Defaults to `False` (counts).

    Returns:
        A `matplotlib.figure.Figure` with one axes.

    Raises:
        ValueError: the matrix is not square or `class_names` has the wrong length.
        TypeError: `class_names` is not a list of str.

    Example:
    >>> figure = plot_confusion_matrix(report, normalize=True)
    """
    if isinstance(report_or_matrix, EvaluationReport):
        class_names = class_names or report_or_matrix.class_names
        report_or_matrix = report_or_matrix.confusion_matrix
    matrix = np.asarray(report_or_matrix, dtype="float64")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"`report_or_matrix` must be an EvaluationReport or a square matrix; "
            f"received shape {matrix.shape}."
        )
    if not matrix.size or not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError(
            f"`report_or_matrix` must hold counts: at least one class, no NaN and nothing "
            f"negative; received {matrix.tolist()}.")
    k = len(matrix)
    class_names = ([str(i) for i in range(k)] if class_names is None
                   else check_class_names(class_names))
    if len(class_names) != k:
        raise ValueError(
            f"`class_names` must have {k} names for a {k}x{k} matrix; received "
            f"{len(class_names)}."
        )
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = max(3.5, 1.2 + 0.6 * k)
    figure = Figure(figsize=(side, side), layout="constrained")
    ax = figure.add_subplot()
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    if k <= 20:  # beyond that the numbers do not fit
        for (row, column), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            dark = value > matrix.max() / 2
            ax.text(column, row, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix" + ("\n(fraction of each true class)" if normalize else ""))
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- top losses


def plot_top_losses(top_losses, *, class_names=None):
    """Shows the most confidently wrong examples from `interpret.top_losses`.

    Each title reads `pred / true` and `prob / loss`: the predicted and true
    classes, the probability given to the (wrong) prediction and the loss.

    Args:
        top_losses: a list of `TopLoss` (may be empty).
        class_names: names in label order. Defaults to `None` (numbers).

    Returns:
        A `matplotlib.figure.Figure` with one axes per example (one message
        axes when the list is empty).

    Example:
    >>> figure = plot_top_losses(top_losses(model, test_ds, k=9), class_names=class_names)
    """
    if class_names is not None:
        class_names = check_class_names(class_names)
    if not top_losses:
        figure = Figure(figsize=(4, 1.5))
        ax = figure.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "No misclassified examples: nothing to show.",
                ha="center", va="center", transform=ax.transAxes)
        return _shown_in_notebooks(figure)
    figure, axes = _grid(len(top_losses), size=2.6)
    for ax, item in zip(axes, top_losses):
        _show(ax, item.image)
        ax.set_title(
            f"{_name(item.predicted_label, class_names)} / "
            f"{_name(item.true_label, class_names)}\n"
            f"{item.probability:.2f} / {item.loss:.2f}", fontsize=9)
    figure.suptitle("pred / true, prob / loss")
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- Grad-CAM


def plot_grad_cam(model, image, *, class_index=None, alpha=0.4, class_names=None):
    """Shows an image next to its Grad-CAM heatmap overlay (see `interpret.grad_cam_heatmap`).

    Args:
        model: a classifier from `build_classifier` (convolutional backbone).
        image: one image `(height, width, 3)`, raw pixels in [0, 255].
        class_index: the class to explain. Defaults to `None` (the predicted class).
        alpha: opacity of the heatmap over the image. Defaults to `0.4`.
        class_names: names in label order, for the titles. Defaults to `None`.

    Returns:
        A `matplotlib.figure.Figure` with two axes: the image and the overlay.

    Raises:
        ValueError: as `grad_cam_heatmap`, or `alpha` outside [0, 1].

    Example:
    >>> figure = plot_grad_cam(model, images[0], class_names=["ant", "bee"])
    """
    alpha = check_fraction(alpha, "alpha", "[0, 1]")
    if class_names is not None:
        class_names = check_class_names(class_names)
    cam = compute_grad_cam(model, image, class_index=class_index)
    heatmap, class_index, probabilities = cam.heatmap, cam.class_index, cam.probabilities
    predicted = int(probabilities.argmax())
    figure = Figure(figsize=(7, 3.8), layout="constrained")
    image_ax, overlay_ax = figure.subplots(1, 2)
    pixels = np.asarray(image).reshape(heatmap.shape + (-1,))  # drops a batch axis of 1
    for ax in (image_ax, overlay_ax):
        _show(ax, pixels)
        ax.axis("off")
    image_ax.set_title(f"predicted: {_name(predicted, class_names)} "
                       f"({probabilities[predicted]:.2f})")
    overlay_ax.imshow(heatmap, cmap="jet", alpha=alpha, vmin=0, vmax=1)
    overlay_ax.set_title(f"Grad-CAM for {_name(class_index, class_names)}")
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- experiments


def plot_data_efficiency(results):
    """Plots test accuracy against labels per class, one line (with a ±std band) per method.

    Args:
        results: a list of dict rows with keys `method`, `labels_per_class`,
            `mean` and optionally `std`, or an object with such `.rows` (a `Table`,
            an experiment result).

    Returns:
        A `matplotlib.figure.Figure` with one axes (x on a log scale).

    Raises:
        ValueError: `results` is empty or a row misses a key.

    Example:
    >>> rows = [{"method": "frozen", "labels_per_class": 5, "mean": 0.70, "std": 0.05},
    ...         {"method": "frozen", "labels_per_class": 20, "mean": 0.80, "std": 0.03}]
    >>> figure = plot_data_efficiency(rows)  # or the result of `data_efficiency`
    """
    rows = list(getattr(results, "rows", results))
    if not rows:
        raise ValueError("`results` is empty: there is nothing to plot.")
    for row in rows:
        missing = [key for key in ("method", "labels_per_class", "mean") if key not in row]
        if missing:
            raise ValueError(
                f"Every row of `results` needs the keys method, labels_per_class, mean "
                f"(and optionally std); a row misses {missing}: {dict(row)}."
            )
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    methods = list(dict.fromkeys(row["method"] for row in rows))  # first-seen order
    for method in methods:
        points = sorted((row["labels_per_class"], row["mean"], row.get("std") or 0.0)
                        for row in rows if row["method"] == method)
        x, mean, std = (np.asarray(values, dtype="float64") for values in zip(*points))
        ax.plot(x, mean, "o-", label=str(method))
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ticks = sorted({row["labels_per_class"] for row in rows})
    ax.set_xscale("log")
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labels per class")
    ax.set_ylabel("test accuracy")
    ax.set_title("Data efficiency")
    ax.legend()
    return _shown_in_notebooks(figure)


# --------------------------------------------------------------------------- learning-rate finder


def plot_learning_rate_finder(result):
    """Plots the loss of a learning-rate range test against the rate, suggestion marked.

    Args:
        result: what `find_learning_rate` returned (or any object with `rates`,
            `losses`, `smoothed_losses` and `suggestion`).

    Returns:
        A `matplotlib.figure.Figure` with one axes: the loss of every step
        (faint), its moving average (solid) and a dashed vertical line at the
        suggested rate; the rate axis is logarithmic.

    Raises:
        ValueError: `result` has no recorded steps.
        TypeError: `result` is not a learning-rate finder result (it misses an attribute).

    Example:
    >>> figure = plot_learning_rate_finder(find_learning_rate(model, train_ds, steps=20))
    """
    missing = [name for name in ("rates", "losses", "smoothed_losses", "suggestion")
               if not hasattr(result, name)]
    if missing:
        raise TypeError(f"`result` must be what find_learning_rate returned; it has no "
                        f"{', '.join(missing)} (received {type(result).__name__}).")
    if not len(result.rates):
        raise ValueError("`result` holds no steps: there is nothing to plot.")
    figure = Figure(figsize=(6, 3.8), layout="constrained")
    ax = figure.add_subplot()
    ax.plot(result.rates, result.losses, color="tab:blue", alpha=0.3, label="loss per step")
    ax.plot(result.rates, result.smoothed_losses, color="tab:blue", label="smoothed loss")
    ax.axvline(result.suggestion, color="tab:red", linestyle="--",
               label=f"suggestion {result.suggestion:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    # Divergence makes the last losses huge: keep the interesting part in view.
    finite = np.asarray(result.smoothed_losses, dtype="float64")
    finite = finite[np.isfinite(finite)]
    if finite.size:
        low, start = float(finite.min()), float(finite[0])
        ax.set_ylim(low - 0.1 * abs(low), max(start, low) * 1.5 + 1e-9)
    stage = getattr(result, "stage", None)
    ax.set_title("Learning-rate range test" + (f" ({stage})" if stage else ""))
    ax.legend()
    return _shown_in_notebooks(figure)


def plot_learning_rate_schedules(schedules, steps, *, group_factors=None):
    """Plots learning-rate schedules step by step, e.g. `WarmupCosine` against `OneCycle`.

    Args:
        schedules: dict label -> a `LearningRateSchedule` (or any function of the step).
        steps: how many training steps to draw.
        group_factors: dict group name -> rate factor (`lr_factors`): the first
            schedule is also drawn scaled for each group, dotted, to show what
            discriminative rates do to it. Defaults to `None`.

    Returns:
        A `matplotlib.figure.Figure` with one axes, the rate on a linear scale.

    Raises:
        TypeError: `schedules` is not a dict, or `steps` not a whole number.
        ValueError: `schedules` is empty, or `steps` < 1.

    Example:
    >>> figure = plot_learning_rate_schedules(
    ...     {"warm-up + cosine": tk.WarmupCosine(1e-3, 60, 6)}, 60)
    """
    if not isinstance(schedules, dict):
        raise TypeError(f"`schedules` must be a dict of label -> schedule; received "
                        f"{type(schedules).__name__}. Pass e.g. {{'one-cycle': schedule}}.")
    if not schedules:
        raise ValueError("`schedules` must be a dict of label -> schedule; received an "
                         "empty dict. Pass at least one schedule.")
    steps = check_whole_number(steps, "steps", 1, what="a whole number of steps")
    figure = Figure(figsize=(6, 3.4), layout="constrained")
    ax = figure.add_subplot()
    x = np.arange(steps)
    for label, schedule in schedules.items():
        ax.plot(x, [float(schedule(step)) for step in x], label=label)
    first_label, first = next(iter(schedules.items()))
    for name, factor in (group_factors or {}).items():
        ax.plot(x, [factor * float(first(step)) for step in x], linestyle=":",
                label=f"{first_label} × {factor:g} ({name})")
    ax.set_xlabel("training step")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize="small")
    return _shown_in_notebooks(figure)
