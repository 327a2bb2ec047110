"""transfer_keras._checks: one set of argument checks, used by every module.

A NumPy integer (e.g. `labels.max() + 1`) is a whole number everywhere; `True`
and floats such as `3.0` are not, and are rejected with the usual message. As
scikit-learn's `check_scalar`: a wrong type raises TypeError, a wrong value ValueError.
"""

import json

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import transfer_keras as tk
from transfer_keras._checks import (
    check_choice,
    check_class_names,
    check_epochs,
    check_fraction,
    check_image_size,
    check_labels,
    check_positive_number,
    check_seed,
    check_whole_number,
)
from transfer_keras.errors import ArgumentTypeError, ArgumentValueError
from transfer_keras.evaluation import cross_validate
from transfer_keras.interpret import grad_cam_heatmap, top_losses
from transfer_keras.plots import plot_grad_cam, plot_history, show_batch

NUMPY_THREES = [np.int64(3), np.int32(3), np.uint8(3)]
NOT_WHOLE_NUMBERS = [True, np.bool_(True), 3.0, np.float64(3.0), "3", None]


def tiny_classifier(num_classes=3):
    return tk.build_classifier("mobilenet", num_classes, input_shape=(32, 32, 3), weights=None,
                               alpha=0.25)


# ----------------------------------------------------------------------------
# The checks themselves.


@pytest.mark.parametrize("value", [3, *NUMPY_THREES])
def test_whole_number_accepts_python_and_numpy_integers(value):
    checked = check_whole_number(value, "num_classes")
    assert checked == 3 and type(checked) is int


@pytest.mark.parametrize("value, error", [*[(value, TypeError) for value in NOT_WHOLE_NUMBERS],
                                          (0, ValueError), (-1, ValueError)])
def test_whole_number_rejects_bools_and_floats_as_types_and_small_values_as_values(value,
                                                                                 error):
    with pytest.raises(error, match=r"`num_classes` must be a whole number >= 1; "
                                    r"received"):
        check_whole_number(value, "num_classes")


@pytest.mark.parametrize("value, fix", [(3.0, "Use num_classes=3."),
                                        ("3", "Pass a number, not a string: num_classes=3."),
                                        (3.5, "Use e.g. num_classes=5.")])
def test_a_whole_number_of_the_wrong_type_is_told_how_to_write_it(value, fix):
    with pytest.raises(ArgumentTypeError) as caught:
        check_whole_number(value, "num_classes", hint="Use e.g. num_classes=5.")
    assert str(caught.value).endswith(f"received {value!r}. {fix}")


def test_whole_number_range_what_and_hint_are_in_the_message():
    assert check_whole_number(np.int64(0), "class_index", 0, 2) == 0
    with pytest.raises(ValueError, match=r"`k` must be a whole number of folds from 2 to 5; "
                                         r"received 6\. Use e\.g\. k=5\.$"):
        check_whole_number(6, "k", 2, 5, what="a whole number of folds", hint="Use e.g. k=5.")


def test_fraction_positive_number_and_choice():
    assert check_fraction(np.float32(0.5), "dropout", "[0, 1)") == 0.5
    assert check_fraction(0, "dropout", "[0, 1)") == 0.0
    for bad, error in [(1, ValueError), (1.0, ValueError), (-0.1, ValueError),
                       (float("nan"), ValueError), (True, TypeError), ("0.2", TypeError)]:
        with pytest.raises(error, match=r"`dropout` must be a rate in \[0, 1\)"):
            check_fraction(bad, "dropout", "[0, 1)", what="a rate")
    assert check_positive_number(np.float32(1e-3), "learning_rate") == pytest.approx(1e-3)
    for bad, error in [(0, ValueError), (-1e-3, ValueError), (float("nan"), ValueError),
                       (True, TypeError), ("1e-3", TypeError), (None, TypeError)]:
        with pytest.raises(error, match="`learning_rate` must be a positive number"):
            check_positive_number(bad, "learning_rate")
    assert check_choice(np.int64(3), "channels", (1, 3)) == 3
    for bad, error in [(2, ValueError), (3.0, TypeError), (True, TypeError),
                       ("avg", TypeError)]:
        with pytest.raises(error, match=r"`channels` must be one of 1, 3; received"):
            check_choice(bad, "channels", (1, 3))
    with pytest.raises(ValueError, match="`pooling` must be one of 'avg', 'max', None; "
                                         "received 'mean'. Use e.g. pooling='avg'.$"):
        check_choice("mean", "pooling", ("avg", "max", None))
    with pytest.raises(TypeError, match=r"received '1e-3'\. Pass a number, not a string: "
                                        r"learning_rate=0\.001\.$"):
        check_positive_number("1e-3", "learning_rate")


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
    lambda seed: tk.prepare((np.zeros((4, 8, 8, 3)), [0, 1, 0, 1]), image_size=8, seed=seed),
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
    for bad, error in [(True, TypeError), (8.0, TypeError), ("8", TypeError),
                       (None, TypeError), ((8, True), TypeError), ((8, 8.0), TypeError),
                       ((8,), ValueError), ((8, 8, 3), ValueError), (0, ValueError),
                       ((8, -1), ValueError)]:
        with pytest.raises(error, match="`image_size` must be"):
            check_image_size(bad)


def test_epochs_one_checker_with_a_fix():
    assert check_epochs(np.int64(5)) == 5
    assert check_epochs(0, "fine_tune_epochs", 0) == 0
    with pytest.raises(ArgumentValueError, match=r"`epochs` must be a whole number of epochs "
                                                 r">= 1; received 0\. Use e\.g\. epochs=5\.$"):
        check_epochs(0)
    with pytest.raises(ArgumentValueError, match=r"received -1\. Use 0 to skip stage 2\.$"):
        check_epochs(-1, "fine_tune_epochs", 0, hint="Use 0 to skip stage 2.")
    for bad in ["3", 3.5, True, None]:
        with pytest.raises(ArgumentTypeError, match="`epochs` must be a whole number of epochs"):
            check_epochs(bad)


def test_labels_one_checker_type_and_value():
    assert check_labels(np.array([[0.0], [2.0]]), num_classes=3).tolist() == [0, 2]
    for bad, match in [(["cat", "dog"], "Turn class names into numbers"),
                       ([True, False], "booleans"), ([0, None], "values of type object")]:
        with pytest.raises(ArgumentTypeError, match=match):
            check_labels(bad)
    for bad, match in [(np.eye(3), "one-hot"), ([0.5, 1], r"not \(e\.g\. \[0\.5\]"),
                       ([-1, 0], "from 0 up"), ([0, np.nan], "not")]:
        with pytest.raises(ArgumentValueError, match=match):
            check_labels(bad)
    with pytest.raises(ArgumentValueError,
                       match=r"`train_labels` must be from 0 to 1 for the model's 2 classes; "
                             r"received label\(s\) \[2, 3\]\. Check that the data"):
        check_labels([0, 3, 2, 3], "train_labels", num_classes=2)


def test_class_names_one_checker_type_and_value():
    assert check_class_names(("ant", "bee"), 2) == ["ant", "bee"]
    assert check_class_names(np.array(["ant", "bee"])) == ["ant", "bee"]
    assert type(check_class_names(np.array(["ant"]))[0]) is str
    for bad, match in [("ant bee", "must be a list of class names"),
                       ({"ant": 0}, "must be a list of class names"),
                       (None, "must be a list of class names"),
                       ([0, 1], "must hold str only; received 0 of type int")]:
        with pytest.raises(ArgumentTypeError, match=match):
            check_class_names(bad, 2)
    for bad, match in [(["ant"], r"must name the 2 classes of the model \(one sigmoid unit "
                                 r"counts as 2 classes\); received 1: \['ant'\]\. Pass one"),
                       (["ant", ""], "must not hold empty names"),
                       (["ant", "ant"], r"different from each other.*'ant' repeat")]:
        with pytest.raises(ArgumentValueError, match=match) as caught:
            check_class_names(bad, 2, name="names")
        assert caught.value.argument == "names"


# ----------------------------------------------------------------------------
# The library takes NumPy integers wherever it takes a whole number.


def test_build_classifier_accepts_numpy_integers():
    model = tiny_classifier(np.int64(3))
    assert model.output_shape == (None, 3)
    units = model.get_layer("predictions").get_config()["units"]
    assert type(units) is int  # a plain int, so the model's config is JSON
    json.dumps(model.get_config())
    model = tk.build_classifier("mobilenet", 2, input_shape=tuple(np.array([32, 32, 3])),
                                weights=None,
                                alpha=0.25, hidden_units=(np.int64(4),))
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("hidden_1").units == 4


@pytest.mark.parametrize("num_classes", [True, 3.0, np.float64(3.0)])
def test_build_classifier_still_rejects_bools_and_floats(num_classes):
    with pytest.raises(TypeError, match=r"`num_classes` must be a whole number >= 1; "
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
        with pytest.raises(TypeError, match=r"`num_layers` must be a whole number from 1 "
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
        with pytest.raises(TypeError, match="`k` must be a whole number >= 1"):
            top_losses(echo_model(2), (probabilities, labels), k=bad)

    def never_built():
        raise AssertionError("the check must come before any model is built")

    for bad in [True, 2.0]:
        with pytest.raises(TypeError, match="`k` must be a whole number of folds >= 2"):
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
        with pytest.raises(TypeError, match="`n` must be a whole number >= 1"):
            show_batch((images, labels), n=bad)
        with pytest.raises(TypeError, match="`fine_tune_epoch` must be an epoch index"):
            plot_history(history, fine_tune_epoch=bad)
        with pytest.raises(TypeError, match="`class_index` must be a class index from 0 to 2"):
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
