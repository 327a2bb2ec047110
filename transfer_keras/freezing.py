"""Freeze and unfreeze the backbone; see what is trainable.

Rules the library enforces so readers do not have to remember them:
- BatchNormalization layers stay frozen when the backbone is unfrozen: their
  moving mean/variance were estimated on the source data and a few small
  target batches would wreck them (and `training=False` keeps them in
  inference mode too).
- Changing `trainable` only takes effect after `model.compile()`; the training
  helpers (`fine_tune`, `compile_for_stage`) always recompile.
"""

import keras
import numpy as np

from transfer_keras import layout
from transfer_keras._checks import check_fraction, check_whole_number
from transfer_keras._table import Table


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def freeze_backbone(model):
    """Freezes the whole backbone of a model from `build_classifier`.

    Args:
        model: a model with a layer named `"backbone"`.

    Returns:
        The same model (recompile before training: `compile_for_stage`).

    Example:
    >>> freeze_backbone(model).get_layer("backbone").trainable
    False
    """
    layout.backbone_of(model).trainable = False
    return model


def unfreeze_backbone(model, *, num_layers=None, from_layer=None, fraction=None):
    """Unfreezes the top of the backbone; BatchNormalization layers stay frozen.

    Give at most one of `num_layers`, `from_layer`, `fraction`; with none, the
    whole backbone (except BatchNorm) is unfrozen. Layers are counted over
    `backbone.layers` as in the Keras fine-tuning guide (the input layer and
    weightless layers count too).

    Args:
        model: a model with a layer named `"backbone"`.
        num_layers: unfreeze the last `num_layers` layers. Defaults to `None`.
        from_layer: unfreeze from this layer name (inclusive) to the top.
            Defaults to `None`.
        fraction: unfreeze the top fraction (0, 1] of the layers. Defaults to `None`.

    Returns:
        The same model (recompile before training: `compile_for_stage`).

    Raises:
        ValueError: more than one option, or a value out of range / unknown name.

    Example:
    >>> unfreeze_backbone(model, num_layers=20).get_layer("backbone").trainable
    True
    """
    start = first_unfrozen_layer(model, num_layers=num_layers, from_layer=from_layer,
                                 fraction=fraction)
    backbone = layout.backbone_of(model)
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= start and not is_batchnorm
    return model


def first_unfrozen_layer(model, *, num_layers=None, from_layer=None, fraction=None):
    """Where `unfreeze_backbone` would start: checks its options, changes nothing.

    `train_two_stage` calls it before stage 1, so that a bad option fails at
    once rather than after the head has trained.

    Returns:
        The index in `backbone.layers` of the first layer to unfreeze (0: all).

    Raises:
        ValueError: as `unfreeze_backbone`.
    """
    backbone = layout.backbone_of(model)
    layers = backbone.layers
    given = [n for n, v in [("num_layers", num_layers), ("from_layer", from_layer),
                            ("fraction", fraction)] if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"Give only one of num_layers, from_layer, fraction; received "
            f"{', '.join(given)}."
        )
    start = 0
    if num_layers is not None:
        num_layers = check_whole_number(num_layers, "num_layers", 1, len(layers),
                                        hint=f"The backbone has {len(layers)} layers.")
        start = len(layers) - num_layers
    elif from_layer is not None:
        names = [layer.name for layer in layers]
        if from_layer not in names:
            raise ValueError(
                f"`from_layer` {from_layer!r} is not a layer of the backbone. Some of "
                f"its layer names: {', '.join(names[-6:])} (see "
                f"model.get_layer('backbone').summary())."
            )
        start = names.index(from_layer)
    elif fraction is not None:
        fraction = check_fraction(fraction, "fraction", "(0, 1]")
        start = len(layers) - max(1, round(fraction * len(layers)))
    return start


def _row(part, kind, layers, weights_of):
    trainable = _count([w for layer in layers for w in layer.trainable_weights])
    return {
        "part": part,
        "type": kind,
        "layers": len(layers),
        "trainable layers": sum(1 for sub in layers if sub.trainable_weights),
        "trainable params": trainable,
        "frozen params": _count(weights_of) - trainable,
    }


def trainable_summary(model, *, groups=None):
    """Returns a per-part table of what is trainable in a model.

    One row per top-level layer (the backbone counts as one part), or with
    `groups`, one row per layer group (`layer_groups(model, groups)`): layers,
    trainable layers, trainable and frozen parameters. Frozen parameters
    include non-trainable state such as BatchNorm statistics.

    Args:
        model: any Keras model (with `groups`, one from `build_classifier`).
        groups: show the layer groups that discriminative rates and gradual
            unfreezing use, bottom to top. Defaults to `None` (one row per part).

    Returns:
        A `Table` with rows `part, type, layers, trainable layers, trainable params,
        frozen params`, plus `total_trainable` / `total_frozen` attributes.

    Example:
    >>> trainable_summary(model).total_trainable  # the ants/bees head: 256 * 2 + 2
    514
    >>> print(trainable_summary(model, groups=3))  # doctest: +SKIP
    """
    if groups is None:
        rows = []
        for layer in model.layers:
            inner = getattr(layer, "layers", None)
            sublayers = list(inner) if inner is not None else [layer]
            row = _row(layer.name, type(layer).__name__, sublayers, layer.weights)
            row["trainable params"] = _count(layer.trainable_weights)  # the layer's own flag
            row["frozen params"] = _count(layer.weights) - row["trainable params"]
            rows.append(row)
        title = f"Trainable parts of {model.name}"
    else:
        rows = [_row(group.name, "head" if group.name == "head" else "layer group",
                     group.layers, [w for layer in group.layers for w in layer.weights])
                for group in layout.layer_groups(model, groups)]
        backbone = layout.backbone_of(model)
        if not backbone.trainable:  # a frozen backbone freezes every layer inside it
            for row in rows[:-1]:
                row["frozen params"] += row["trainable params"]
                row["trainable params"] = row["trainable layers"] = 0
        title = f"Trainable layer groups of {model.name}"
    table = Table(list(rows[0]), rows, title=title)
    table.total_trainable = sum(row["trainable params"] for row in rows)
    table.total_frozen = sum(row["frozen params"] for row in rows)
    table.notes = [
        f"Total: {table.total_trainable:,} trainable, {table.total_frozen:,} frozen "
        f"parameters. BatchNorm layers stay frozen when the backbone is unfrozen."
    ]
    return table
