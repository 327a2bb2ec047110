"""transfer_keras._checks: one set of argument checks, used by every module.

A NumPy integer (e.g. `labels.max() + 1`) is a whole number everywhere; `True`
and floats such as `3.0` are not, and are rejected with the usual message.
"""

import json

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import transfer_keras as tk
from transfer_keras._checks import (
    check_choice,
    check_fraction,
    check_image_size,
    check_positive_number,
    check_seed,
    check_whole_number,
)
from transfer_keras.evaluation import cross_validate, top_losses
from transfer_keras.plots import grad_cam_heatmap, plot_grad_cam, plot_history, show_batch

NUMPY_THREES = [np.int64(3), np.int32(3), np.uint8(3)]
NOT_WHOLE_NUMBERS = [True, np.bool_(True), 3.0, np.float64(3.0), "3", None]


def tiny_classifier(num_classes=3):
    return tk.build_classifier("mobilenet", num_classes, (32, 32, 3), weights=None,
                               alpha=0.25)


# ----------------------------------------------------------------------------
# The checks themselves.


@pytest.mark.parametrize("value", [3, *NUMPY_THREES])
def test_whole_number_accepts_python_and_numpy_integers(value):
    checked = check_whole_number(value, "num_classes")
    assert checked == 3 and type(checked) is int


@pytest.mark.parametrize("value", [*NOT_WHOLE_NUMBERS, 0, -1])
def test_whole_number_rejects_bools_floats_and_small_values(value):
    with pytest.raises(ValueError, match=r"`num_classes` must be a whole number >= 1; "
                                         r"received"):
        check_whole_number(value, "num_classes")


def test_whole_number_range_what_and_hint_are_in_the_message():
    assert check_whole_number(np.int64(0), "class_index", 0, 2) == 0
    with pytest.raises(ValueError, match=r"`k` must be a whole number of folds from 2 to 5; "
                                         r"received 6\. Use e\.g\. k=5\.$"):
        check_whole_number(6, "k", 2, 5, what="a whole number of folds", hint="Use e.g. k=5.")


def test_fraction_positive_number_and_choice():
    assert check_fraction(np.float32(0.5), "dropout", "[0, 1)") == 0.5
    assert check_fraction(0, "dropout", "[0, 1)") == 0.0
    for bad in [1, 1.0, -0.1, True, float("nan"), "0.2"]:
        with pytest.raises(ValueError, match=r"`dropout` must be a rate in \[0, 1\)"):
            check_fraction(bad, "dropout", "[0, 1)", what="a rate")
    assert check_positive_number(np.float32(1e-3), "learning_rate") == pytest.approx(1e-3)
    for bad in [0, -1e-3, True, "1e-3"]:
        with pytest.raises(ValueError, match="`learning_rate` must be a positive number"):
            check_positive_number(bad, "learning_rate")
    assert check_choice(np.int64(3), "channels", (1, 3)) == 3
    for bad in [3.0, True, "avg"]:
        with pytest.raises(ValueError, match=r"`channels` must be one of 1, 3; received"):
            check_choice(bad, "channels", (1, 3))


def test_seed_is_a_whole_number_numpy_can_use():
    assert check_seed(np.int64(7)) == 7 and check_seed(2**32 - 1) == 2**32 - 1
    assert check_seed(None, allow_none=True) is None
    for bad in ["0", 1.5, True, None]:
        with pytest.raises(TypeError, match="`seed` must be a whole number.*Use e.g. seed=0"):
            check_seed(bad)
    for bad in [-1, 2**32]:
        with pytest.raises(ValueError, match=r"`seed` must be from 0 to 2\*\*32 - 1"):
            check_seed(bad)


@pytest.mark.parametrize("call", [
    lambda seed: tk.set_seed(seed),
    lambda seed: tk.sample_per_class(np.zeros((4, 2, 2)), [0, 1, 0, 1], 1, seed=seed),
    lambda seed: tk.build_augmentation(seed=seed),
    lambda seed: tk.prepare((np.zeros((4, 8, 8, 3)), [0, 1, 0, 1]), 8, seed=seed),
    lambda seed: cross_validate(lambda: None, np.zeros((4, 2, 2)), [0, 1, 0, 1], k=2,
                                seed=seed),
], ids=["set_seed", "sample_per_class", "build_augmentation", "prepare", "cross_validate"])
@pytest.mark.parametrize("seed, error", [("abc", TypeError), (1.5, TypeError),
                                         (-1, ValueError), (2**40, ValueError)])
def test_every_seed_argument_is_checked_up_front(call, seed, error):
    with pytest.raises(error, match="`seed`"):
        call(seed)


def test_image_size_accepts_numpy_integers():
    assert check_image_size(np.int64(8)) == (8, 8)
    assert check_image_size(tuple(np.array([8, 6]))) == (8, 6)
    for bad in [True, 8.0, (8, True), (8,)]:
        with pytest.raises(ValueError, match="`image_size` must be"):
            check_image_size(bad)


# ----------------------------------------------------------------------------
# The library takes NumPy integers wherever it takes a whole number.


def test_build_classifier_accepts_numpy_integers():
    model = tiny_classifier(np.int64(3))
    assert model.output_shape == (None, 3)
    units = model.get_layer("predictions").get_config()["units"]
    assert type(units) is int  # a plain int, so the model's config is JSON
    json.dumps(model.get_config())
    model = tk.build_classifier("mobilenet", 2, tuple(np.array([32, 32, 3])), weights=None,
                                alpha=0.25, hidden_units=(np.int64(4),))
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("hidden_1").units == 4


@pytest.mark.parametrize("num_classes", [True, 3.0, np.float64(3.0)])
def test_build_classifier_still_rejects_bools_and_floats(num_classes):
    with pytest.raises(ValueError, match=r"`num_classes` must be a whole number >= 1; "
                                         r"received"):
        tiny_classifier(num_classes)


def test_unfreeze_backbone_accepts_numpy_integers():
    model = tiny_classifier()
    backbone = model.get_layer("backbone")
    tk.unfreeze_backbone(model, num_layers=np.int64(5))
    top = backbone.layers[-5:]
    assert all(layer.trainable for layer in top
               if not isinstance(layer, keras.layers.BatchNormalization))
    assert not any(layer.trainable for layer in backbone.layers[:-5])
    for bad in [True, 5.0]:
        with pytest.raises(ValueError, match=r"`num_layers` must be a whole number from 1 "
                                             r"to \d+; received"):
            tk.unfreeze_backbone(model, num_layers=bad)


def echo_model(units):
    """A model whose output is its input: fixed, known predictions."""
    return keras.Sequential([keras.Input((units,)),
                             keras.layers.Identity(name="predictions")])


def test_evaluation_accepts_numpy_integers():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]], "float32")
    labels = np.array([0, 0, 1, 1])
    worst = top_losses(echo_model(2), (probabilities, labels), k=np.int64(2))
    assert [w.index for w in worst] == [1, 2]  # losses -log 0.2, -log 0.3
    for bad in [True, 2.0]:
        with pytest.raises(ValueError, match="`k` must be a whole number >= 1"):
            top_losses(echo_model(2), (probabilities, labels), k=bad)

    def never_built():
        raise AssertionError("the check must come before any model is built")

    for bad in [True, 2.0]:
        with pytest.raises(ValueError, match="`k` must be a whole number of folds >= 2"):
            cross_validate(never_built, probabilities, labels, k=bad)


def test_plots_accept_numpy_integers():
    images = np.zeros((4, 32, 32, 3), "uint8")
    labels = np.array([0, 1, 2, 0])
    assert len(show_batch((images, labels), n=np.int64(2)).axes) == 2
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]}
    assert isinstance(plot_history(history, fine_tune_epoch=np.int64(2)), Figure)
    model = tiny_classifier()
    assert grad_cam_heatmap(model, images[0], class_index=np.int64(2)).shape == (32, 32)
    assert isinstance(plot_grad_cam(model, images[0], alpha=np.float32(0.5)), Figure)
    for bad in [True, 2.0]:
        with pytest.raises(ValueError, match="`n` must be a whole number >= 1"):
            show_batch((images, labels), n=bad)
        with pytest.raises(ValueError, match="`fine_tune_epoch` must be an epoch index"):
            plot_history(history, fine_tune_epoch=bad)
        with pytest.raises(ValueError, match="`class_index` must be from 0 to 2"):
            grad_cam_heatmap(model, images[0], class_index=bad)


def test_checks_name_the_argument_for_the_command_line():
    from transfer_keras.errors import ArgumentError

    with pytest.raises(ValueError) as caught:
        check_whole_number(0, "head_epochs")
    assert isinstance(caught.value, ArgumentError) and caught.value.argument == "head_epochs"
    with pytest.raises(TypeError) as caught:
        check_seed("7", name="seeds")
    assert caught.value.argument == "seeds"
    with pytest.raises(ValueError) as caught:
        check_image_size(0)
    assert caught.value.argument == "image_size"
