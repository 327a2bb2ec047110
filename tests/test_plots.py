"""Tests for transfer_keras.plots: every function returns a Figure with the expected parts."""

import base64
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from transfer_keras import plots
from transfer_keras._table import Table
from transfer_keras.evaluation import evaluate_classifier
from transfer_keras.interpret import TopLoss, compute_grad_cam, grad_cam_heatmap
from transfer_keras.models import build_classifier
from transfer_keras.plots import (
    plot_confusion_matrix,
    plot_data_efficiency,
    plot_grad_cam,
    plot_history,
    plot_top_losses,
    show_batch,
)

CLASS_NAMES = ["cat", "dog", "bird"]


def random_images(count, size=32, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, size, size, channels)).astype("uint8")


def titles(figure):
    return [ax.get_title() for ax in figure.axes]


def test_plots_never_use_pyplot():
    source = Path(plots.__file__).read_text()
    assert "import matplotlib.pyplot" not in source
    assert "from matplotlib import pyplot" not in source


# --------------------------------------------------------------------------- show_batch


def test_show_batch_from_dataset_titles_are_class_names():
    labels = np.arange(10) % 3
    ds = tf.data.Dataset.from_tensor_slices((random_images(10), labels)).batch(4)
    figure = show_batch(ds, class_names=CLASS_NAMES, n=6)
    assert isinstance(figure, Figure)
    assert titles(figure) == [CLASS_NAMES[label] for label in labels[:6]]


def test_show_batch_arrays_grayscale_and_predictions():
    images = random_images(4, size=28, channels=1).astype("float32")
    labels = np.array([0, 1, 2, 0])
    predictions = np.eye(3)[[0, 2, 2, 1]]  # probabilities: 2 right, 2 wrong
    figure = show_batch((images, labels), class_names=CLASS_NAMES, predictions=predictions)
    assert len(figure.axes) == 4
    assert titles(figure)[1] == "pred: bird\ntrue: dog"
    colors = [ax.title.get_color() for ax in figure.axes]
    assert colors == ["black", "red", "black", "red"]
    with pytest.raises(ValueError, match="`n` must be"):
        show_batch((images, labels), n=0)
    # These used to draw a figure anyway, or fail with an IndexError.
    with pytest.raises(ValueError, match="4 images and 3 labels"):
        show_batch((images, labels[:3]))
    with pytest.raises(ValueError, match=r"`class_names` must name every class shown \(labels "
                                         r"up to 2\); received 1"):
        show_batch((images, labels), class_names=["cat"])
    with pytest.raises(ValueError, match="`predictions` must cover the 4 images"):
        show_batch((images, labels), class_names=CLASS_NAMES, predictions=predictions[:3])


# --------------------------------------------------------------------------- plot_history


class TwoStageHistory:
    """Like the lead's merged history: a dict plus the first fine-tuning epoch."""

    def __init__(self, history, fine_tune_epoch):
        self.history = history
        self.fine_tune_epoch = fine_tune_epoch


def boundary_lines(ax):
    return [line for line in ax.get_lines() if line.get_label() == "fine-tuning starts"]


def test_plot_history_marks_fine_tuning():
    logs = {"loss": [1.0, 0.8, 0.7, 0.5, 0.4], "val_loss": [1.1, 0.9, 0.8, 0.6, 0.6],
            "accuracy": [0.5, 0.6, 0.7, 0.8, 0.9], "val_accuracy": [0.5, 0.6, 0.6, 0.7, 0.8]}
    figure = plot_history(TwoStageHistory(logs, fine_tune_epoch=3))
    assert titles(figure) == ["Loss", "Accuracy"]
    for ax in figure.axes:
        assert [line.get_label() for line in ax.get_lines()] == [
            "train", "validation", "fine-tuning starts"]
        (line,) = boundary_lines(ax)
        assert line.get_xdata()[0] == 3.5  # between epoch 3 and epoch 4 (1-based)
        assert line.get_linestyle() == "--"
    # A plain dict and no boundary: no dashed line.
    figure = plot_history(logs)
    assert not boundary_lines(figure.axes[0])


def test_plot_history_from_keras_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(np.zeros((8, 2)), np.zeros(8), epochs=2, verbose=0)
    figure = plot_history(history, fine_tune_epoch=1)
    assert len(figure.axes) == 2
    assert len(figure.axes[1].get_lines()) == 2  # train accuracy + boundary


def test_plot_history_errors():
    with pytest.raises(ValueError, match="at least 'loss'"):
        plot_history({"accuracy": [0.5]})
    with pytest.raises(TypeError, match="at least 'loss'; received list"):
        plot_history([1.0, 0.5])
    with pytest.raises(ValueError, match="`fine_tune_epoch` must be"):
        plot_history({"loss": [1.0, 0.5]}, fine_tune_epoch=5)


# --------------------------------------------------------------------------- confusion matrix


def test_plot_confusion_matrix_from_report_and_normalized():
    echo = keras.Sequential([keras.Input((3,)), keras.layers.Identity(name="predictions")])
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.eye(3, dtype="float32")[[0, 0, 1, 1, 1, 0]]
    report = evaluate_classifier(echo, (predicted, labels), class_names=CLASS_NAMES)
    figure = plot_confusion_matrix(report)
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASS_NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASS_NAMES
    assert [t.get_text() for t in ax.texts] == ["2", "1", "0", "0", "2", "0", "1", "0", "0"]

    figure = plot_confusion_matrix(report.confusion_matrix, class_names=CLASS_NAMES,
                                   normalize=True)
    cells = [t.get_text() for t in figure.axes[0].texts]
    assert cells[:3] == ["0.67", "0.33", "0.00"]
    assert "fraction" in figure.axes[0].get_title()


def test_plot_confusion_matrix_errors():
    with pytest.raises(ValueError, match="square matrix"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must have 2 names"):
        plot_confusion_matrix(np.eye(2), class_names=CLASS_NAMES)
    for bad in ([[np.nan, 1], [1, 1]], [[-1, 1], [1, 1]], np.zeros((0, 0))):
        with pytest.raises(ValueError, match="must hold counts"):
            plot_confusion_matrix(np.array(bad, dtype=float))


# --------------------------------------------------------------------------- top losses


def test_plot_top_losses_grid_and_empty():
    images = random_images(3)
    losses = [TopLoss(i, images[i], 0, 1, 0.9 - i / 10, 2.0 - i / 10) for i in range(3)]
    figure = plot_top_losses(losses, class_names=CLASS_NAMES)
    assert len(figure.axes) == 3
    assert titles(figure)[0] == "dog / cat\n0.90 / 2.00"
    assert "pred / true" in figure._suptitle.get_text()

    empty = plot_top_losses([], class_names=CLASS_NAMES)
    assert isinstance(empty, Figure) and len(empty.axes) == 1
    assert "No misclassified" in empty.axes[0].texts[0].get_text()


# --------------------------------------------------------------------------- Grad-CAM


def test_grad_cam_heatmap_shape_and_range():
    model = build_classifier("mobilenet", 3, input_shape=(64, 64, 3), weights=None, alpha=0.25)
    image = random_images(1, size=64)[0]
    heatmap = grad_cam_heatmap(model, image)
    assert heatmap.shape == (64, 64)
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert grad_cam_heatmap(model, image, class_index=2).shape == (64, 64)
    figure = plot_grad_cam(model, image, class_names=CLASS_NAMES)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert titles(figure)[1].startswith("Grad-CAM for ")
    with pytest.raises(ValueError,
                       match="`class_index` must be a class index from 0 to 2; received 3"):
        grad_cam_heatmap(model, image, class_index=3)
    with pytest.raises(ValueError, match=r"must be one image of shape \(64, 64, 3\)"):
        grad_cam_heatmap(model, random_images(1, size=32)[0])


def test_grad_cam_lives_in_interpret_and_its_figure_in_plots():
    model = build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    image = random_images(1)[0]
    cam = compute_grad_cam(model, image)
    assert cam.class_index == int(cam.probabilities.argmax())
    np.testing.assert_array_equal(cam.heatmap, grad_cam_heatmap(model, image))
    with pytest.raises(AttributeError):
        cam.class_index = 0  # a frozen result
    assert not hasattr(plots, "grad_cam_heatmap")  # plots draws, interpret computes
    with pytest.raises(TypeError, match="`class_index` must be a class index.*received 1.0"):
        grad_cam_heatmap(model, image, class_index=1.0)
    with pytest.raises(TypeError):
        plot_grad_cam(model, image, 1)  # optional arguments are keyword-only


def test_class_names_are_checked_by_the_one_checker():
    images, labels = random_images(3), np.array([0, 1, 2])
    with pytest.raises(TypeError, match="`class_names` must be a list of class names"):
        show_batch((images, labels), class_names="cat dog bird")
    with pytest.raises(TypeError, match="`class_names` must hold str only; received 0"):
        plot_confusion_matrix(np.eye(3), class_names=[0, 1, 2])
    with pytest.raises(ValueError, match="must be different from each other"):
        plot_top_losses([], class_names=["cat", "cat"])
    with pytest.raises(TypeError):
        show_batch((images, labels), CLASS_NAMES)  # optional arguments are keyword-only


def test_grad_cam_sigmoid_head():
    model = build_classifier("mobilenet", 1, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    heatmap = grad_cam_heatmap(model, random_images(1)[0], class_index=0)
    assert heatmap.shape == (32, 32)


def test_grad_cam_highlights_the_region_that_drives_the_class():
    """A hand-made model: the 'backbone' passes the image through; class 0 reads channel 0."""
    inputs = keras.Input((8, 8, 3), name="pixels")
    backbone = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Identity()],
                                name="backbone")
    pooled = keras.layers.GlobalAveragePooling2D(name="pooling")(backbone(inputs))
    head = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]), np.zeros(2)])
    image = np.zeros((8, 8, 3), dtype="float32")
    image[:4, :4, 0] = 200.0  # red square top-left
    heatmap = grad_cam_heatmap(model, image, class_index=0)
    assert heatmap[:4, :4].min() == pytest.approx(1.0)
    assert heatmap[4:, 4:].max() == pytest.approx(0.0)


def test_grad_cam_rejects_unsupported_models():
    inputs = keras.Input((8,))
    dense_backbone = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)],
                                      name="backbone")
    outputs = keras.layers.Dense(2, name="predictions")(dense_backbone(inputs))
    with pytest.raises(ValueError, match=r"convolutional backbone.*shape \(None, 4\)"):
        grad_cam_heatmap(keras.Model(inputs, outputs), np.zeros(8))
    no_backbone = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                    keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no 'backbone' layer.*supported backbones: "
                                         "mobilenet, mobilenetv2"):
        grad_cam_heatmap(no_backbone, np.zeros((8, 8, 3)))


# --------------------------------------------------------------------------- data efficiency


def test_plot_data_efficiency_one_line_per_method():
    rows = [{"method": method, "labels_per_class": n, "mean": mean, "std": 0.05}
            for method, offset in [("transfer", 0.3), ("scratch", 0.0)]
            for n, mean in [(50, 0.5 + offset / 2), (5, 0.3 + offset), (20, 0.4 + offset)]]
    for results in (rows, Table(list(rows[0]), rows)):
        figure = plot_data_efficiency(results)
        (ax,) = figure.axes
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["transfer", "scratch"]
        np.testing.assert_array_equal(lines[0].get_xdata(), [5, 20, 50])  # sorted
        assert ax.get_xscale() == "log"
        assert ax.get_ylabel() == "test accuracy"
    with pytest.raises(ValueError, match=r"misses \['mean'\]"):
        plot_data_efficiency([{"method": "a", "labels_per_class": 1}])
    with pytest.raises(ValueError, match="empty"):
        plot_data_efficiency([])


# --------------------------------------------------------------------------- learning-rate finder


def test_plot_learning_rate_finder_log_rates_and_the_suggestion_marked():
    from transfer_keras.lr_finder import LearningRateFinderResult

    rates = list(np.logspace(-6, -1, 20))
    losses = list(np.r_[np.linspace(0.7, 0.2, 15), [0.3, 0.8, 2.0, 5.0, 40.0]])
    result = LearningRateFinderResult(rates, losses, losses, rates[7], "a rule", "head",
                                      stopped_early=True)
    figure = plots.plot_learning_rate_finder(result)
    (ax,) = figure.axes
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["smoothed loss"].get_xdata(), rates)
    np.testing.assert_allclose(lines[f"suggestion {rates[7]:.1e}"].get_xdata(), [rates[7]] * 2)
    assert ax.get_ylim()[1] < 40.0  # the diverged tail does not squash the curve
    assert "head" in ax.get_title()
    with pytest.raises(TypeError, match="no rates"):
        plots.plot_learning_rate_finder({"losses": []})


# --------------------------------------------------------------------------- notebooks


class _FakeShell:
    """The part of an IPython shell that displays values: its display formatter."""

    def __init__(self):
        from IPython.core.formatters import DisplayFormatter

        self.display_formatter = DisplayFormatter()

    def mimetypes_of(self, value):
        data, _ = self.display_formatter.format(value)
        return set(data)


@pytest.fixture
def fake_shell(monkeypatch):
    """A fresh IPython-like shell that `IPython.get_ipython()` returns during the test."""
    IPython = pytest.importorskip("IPython")
    shell = _FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    return shell


def test_returned_figures_display_as_png_without_matplotlib_inline(fake_shell):
    bare = Figure()
    bare.add_subplot()
    assert "image/png" not in fake_shell.mimetypes_of(bare)  # a fresh shell shows text only

    figure = plot_confusion_matrix(np.eye(2))  # registers PNG for Figures
    assert "image/png" in fake_shell.mimetypes_of(figure)
    png = fake_shell.display_formatter.format(figure)[0]["image/png"]
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_a_figure_format_the_user_chose_is_kept(fake_shell):
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(fake_shell, {"svg"})  # as `%config InlineBackend.figure_formats`
    figure = plot_confusion_matrix(np.eye(2))
    assert "image/svg+xml" in fake_shell.mimetypes_of(figure)
    assert "image/png" not in fake_shell.mimetypes_of(figure)


def test_outside_ipython_figures_are_returned_untouched(monkeypatch):
    IPython = pytest.importorskip("IPython")
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    figure = Figure()
    assert plots._shown_in_notebooks(figure) is figure
    monkeypatch.delitem(sys.modules, "IPython")  # plain Python never imported IPython
    assert plots._shown_in_notebooks(figure) is figure
