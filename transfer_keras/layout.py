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
>>> model = tk.build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None,
...                             alpha=0.25)
>>> parts = classifier_parts(model)
>>> parts.backbone.name, [layer.name for layer in parts.head]
('backbone', ['pooling', 'dropout', 'predictions'])
>>> [layer.name for layer in parts.inputs]
['preprocessing']

A backbone is also a chain of *blocks*: the places where exactly one tensor
crosses from the layers below to the layers above (`clean_cut`) are its block
boundaries, found from the graph, whatever the architecture calls its layers.
`layer_groups(model, n)` puts whole blocks together into n - 1 groups of
about equal depth, then the head: the groups that discriminative learning
rates and gradual unfreezing work on.

>>> [group.name for group in layer_groups(model, 3)]
['conv1 … conv_pw_6_relu', 'conv_dw_7 … conv_pw_13_relu', 'head']
"""

import dataclasses

import keras

# The names of the parts, as `build_classifier` gives them.
AUGMENTATION = "augmentation"
PREPROCESSING = "preprocessing"
BACKBONE = "backbone"
POOLING = "pooling"
DROPOUT = "dropout"
PREDICTIONS = "predictions"
HEAD_LAYERS = (POOLING, DROPOUT, PREDICTIONS)  # plus dropout_i, hidden_i before dropout


@dataclasses.dataclass(frozen=True)
class ClassifierParts:
    """The parts of a classifier, in the order the data flows through them."""

    inputs: list  # augmentation (if any) and preprocessing: raw pixels -> backbone input
    backbone: keras.Model  # the shared feature layers
    head: list  # pooling -> [dropout] -> [hidden_i] -> predictions


@dataclasses.dataclass(frozen=True)
class LayerGroup:
    """Whole blocks of a backbone (or the head), bottom to top."""

    name: str  # "first layer … last layer", or "head"
    layers: list


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


def _tensors(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _crossing(backbone):
    """For each index `cut`, the tensors made below `cut` that layers from `cut` on read."""
    layers = backbone.layers
    producer = {id(layer.output): index for index, layer in enumerate(layers)}
    consumed = [[tensor for tensor in _tensors(layer.input) if id(tensor) in producer]
                if index else [] for index, layer in enumerate(layers)]
    crossing = []
    for cut in range(len(layers)):
        crossing.append({id(tensor): tensor for inputs in consumed[cut:] for tensor in inputs
                         if producer[id(tensor)] < cut})
    return crossing


def clean_cut(backbone, start):
    """The largest index `cut <= start` of `backbone.layers` where one tensor crosses.

    Args:
        backbone: a functional backbone (each layer called once).
        start: index of the first trainable layer.

    Returns:
        `(cut, tensor)`: `backbone.layers[:cut]` compute `tensor`, the only
        input the layers from `cut` on take from below; `(0, None)` when there
        is no such place above the input.
    """
    crossing = _crossing(backbone)
    for cut in range(min(start, len(crossing) - 1), 1, -1):
        if len(crossing[cut]) == 1:
            return cut, next(iter(crossing[cut].values()))
    return 0, None


def block_starts(backbone):
    """The indices in `backbone.layers` where a block starts (one tensor crosses below).

    A block starts at a learning layer (see `_depth`) below which one tensor
    crosses, so a convolution keeps its BatchNorm and activation, and a
    residual block (two tensors cross inside it) is never split. The first
    block starts at 1, the layer after the input.
    """
    crossing = _crossing(backbone)
    layers = backbone.layers
    return [1] + [cut for cut in range(2, len(crossing))
                  if len(crossing[cut]) == 1 and _depth([layers[cut]])]


def _depth(layers):
    """Layers that learn: those with weights, BatchNorm aside (it stays frozen)."""
    return sum(1 for layer in layers if layer.weights
               and not isinstance(layer, keras.layers.BatchNormalization))


def _group(layers):
    return LayerGroup(f"{layers[0].name} … {layers[-1].name}", list(layers))


def layer_groups(model, n):
    """Splits a classifier into `n` groups of layers, bottom to top.

    The backbone gives `n - 1` groups of whole blocks (see `block_starts`), cut
    where the count of learning layers (those with weights, BatchNorm aside)
    comes closest to equal shares; the head is the last group.

    Args:
        model: a model from `build_classifier`.
        n: the number of groups, from 2 (the whole backbone, the head).

    Returns:
        A list of `n` `LayerGroup`s (`name`, `layers`).

    Raises:
        ValueError: `n` is not a whole number from 2 to the backbone's blocks + 1.
    """
    backbone = backbone_of(model)
    starts = block_starts(backbone)
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= len(starts) + 1:
        raise ValueError(
            f"`n` must be a whole number from 2 (the backbone and the head) to "
            f"{len(starts) + 1} (each of the backbone's {len(starts)} blocks on its own, "
            f"then the head); received n={n!r}."
        )
    layers = backbone.layers
    blocks = [layers[start:end] for start, end in zip(starts, starts[1:] + [len(layers)])]
    below = [0]  # learning layers below each block boundary
    for block in blocks:
        below.append(below[-1] + _depth(block))
    cuts = [0]
    for k in range(1, n - 1):  # group k starts at the boundary closest to its share
        share = below[-1] * k / (n - 1)
        last_allowed = len(blocks) - (n - 1 - k)  # leave a block for each group above
        candidates = range(cuts[-1] + 1, last_allowed + 1)
        cuts.append(min(candidates, key=lambda boundary: abs(below[boundary] - share)))
    groups = [_group([layer for block in blocks[start:end] for layer in block])
              for start, end in zip(cuts, cuts[1:] + [len(blocks)])]
    return groups + [LayerGroup("head", head_layers(model))]


def num_classes_of(model):
    """Classes the model predicts: its output units, or 2 for one sigmoid unit.

    Example:
    >>> num_classes_of(build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None))
    3
    """
    units = int(model.output_shape[-1])
    return 2 if units == 1 else units
