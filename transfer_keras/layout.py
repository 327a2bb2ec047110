"""How a classifier from `build_classifier` is laid out: the one place that knows.

The model is a plain Keras model (`model.summary()` shows every part), laid
out in three parts, the way keras-hub separates a preprocessor, a backbone and
a task:

    pixels -> [augmentation] -> preprocessing     the input part
           -> backbone                            the shared feature layers
           -> pooling -> [dropout_1 -> hidden_1 ...] -> [dropout] -> predictions   the head

Each part is a layer found by its name. Freezing, training, evaluation and
plots find the parts through this module only, so a change to the layout is a
change here.

>>> import transfer_keras as tk
>>> model = tk.build_classifier("mobilenet", 3, (32, 32, 3), weights=None,
...                             alpha=0.25)
>>> parts = classifier_parts(model)
>>> parts.backbone.name, [layer.name for layer in parts.head]
('backbone', ['pooling', 'dropout', 'predictions'])
>>> [layer.name for layer in parts.inputs]
['preprocessing']
"""

from typing import NamedTuple

import keras

# The names of the parts, as `build_classifier` gives them.
AUGMENTATION = "augmentation"
PREPROCESSING = "preprocessing"
BACKBONE = "backbone"
POOLING = "pooling"
DROPOUT = "dropout"
PREDICTIONS = "predictions"
HEAD_LAYERS = (POOLING, DROPOUT, PREDICTIONS)  # plus dropout_i, hidden_i before dropout


class ClassifierParts(NamedTuple):
    """The parts of a classifier, in the order the data flows through them."""

    inputs: list  # augmentation (if any) and preprocessing: raw pixels -> backbone input
    backbone: keras.Model  # the shared feature layers
    head: list  # pooling -> [dropout] -> [hidden_i] -> predictions


def _names(model):
    return [layer.name for layer in model.layers]


def _missing(model, name):
    return ValueError(
        f"`model` {model.name!r} has no layer named {name!r}; build it with "
        f"build_classifier() (its layers: {', '.join(_names(model))})."
    )


def _layer(model, name):
    """The layer called `name`, or a `ValueError` that says how to get one."""
    try:
        return model.get_layer(name)
    except ValueError:
        raise _missing(model, name) from None


def backbone_of(model):
    """Returns the backbone (the layer named `"backbone"`)."""
    return _layer(model, BACKBONE)


def feature_model(model):
    """The frozen part of a classifier as a model: raw pixels -> pooled features.

    It shares the classifier's layers (and weights) and does not keep the
    classifier itself alive.
    """
    return keras.Model(model.inputs, pooling_of(model).output, name="feature_extractor")


def pooling_of(model):
    """Returns the head's pooling layer; its output is the feature vector."""
    return _layer(model, POOLING)


def predictions_of(model):
    """Returns the output layer (named `"predictions"`)."""
    return _layer(model, PREDICTIONS)


def find_predictions(model):
    """Returns the `"predictions"` layer, or `None` for a model built elsewhere."""
    return model.get_layer(PREDICTIONS) if PREDICTIONS in _names(model) else None


def augmentation_of(model):
    """Returns the augmentation layer, or `None` when the model has none."""
    return model.get_layer(AUGMENTATION) if AUGMENTATION in _names(model) else None


def classifier_parts(model):
    """Splits a classifier into its input part, backbone and head.

    Raises:
        ValueError: `model` has no layer named `"backbone"`.
    """
    names = _names(model)
    if BACKBONE not in names:
        raise _missing(model, BACKBONE)
    at = names.index(BACKBONE)
    inputs = [layer for layer in model.layers[:at]
              if not isinstance(layer, keras.layers.InputLayer)]
    return ClassifierParts(inputs, model.layers[at], model.layers[at + 1:])


def head_layers(model):
    """Returns the head's layers (everything after the backbone), in order."""
    return classifier_parts(model).head


def inference_inputs(model):
    """Returns the input part without augmentation: what inference runs."""
    return [layer for layer in classifier_parts(model).inputs if layer.name != AUGMENTATION]
