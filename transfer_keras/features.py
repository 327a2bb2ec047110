"""The frozen part of a model, run once: where a backbone can be cut, and the two halves.

Fine-tuning only the top of a backbone still runs the frozen bottom on every
batch of every epoch, though its output never changes (BatchNorm is frozen and
the backbone is called with `training=False`). `frozen_prefix(model)` cuts the
classifier where the frozen bottom ends: `prefix` maps raw pixels to the
activations at the cut, `top` maps those activations to the predictions. Both
share their layers (and weights) with the model, so training `top` on cached
prefix outputs trains the model itself, at the cost of the part that trains.

A cut must be *clean*: exactly one tensor crosses it. Inside a residual block
two do (the block's input also feeds its skip connection), so the cut moves
down to the nearest clean place below the first trainable layer, usually the
start of that block; the frozen layers between the cut and the first
trainable one then run in `top`, still frozen.

>>> import transfer_keras as tk
>>> model = tk.build_classifier("efficientnet_lite0", 2, (64, 64, 3), weights=None)
>>> _ = tk.unfreeze_backbone(model, from_layer="block6a_expand_conv")
>>> frozen_prefix(model).cut_layer
'block5c_add'
"""

from typing import NamedTuple

import keras

from transfer_keras import layout
from transfer_keras.layout import clean_cut


class FrozenPrefix(NamedTuple):
    """A classifier cut in two where its frozen bottom ends.

    Attributes:
        prefix: raw pixels -> activations at the cut (frozen; no augmentation).
        top: activations at the cut -> predictions (holds every trainable layer).
        cut_layer: the backbone layer whose output is cached.
    """

    prefix: keras.Model
    top: keras.Model
    cut_layer: str


def frozen_prefix(model):
    """Cuts a classifier where its frozen backbone layers end.

    Args:
        model: a model from `build_classifier`, part of its backbone unfrozen.

    Returns:
        A `FrozenPrefix`, or `None` when nothing worth caching is frozen: the
        whole backbone trains, or no clean cut lies above its input.
    """
    backbone = layout.backbone_of(model)
    start = next((index for index, layer in enumerate(backbone.layers)
                  if layer.trainable and layer.trainable_weights), None)
    if not backbone.trainable or start is None:
        return None
    cut, tensor = clean_cut(backbone, start)
    if not cut:
        return None
    bottom = keras.Model(backbone.input, tensor, name="frozen_bottom")
    upper = keras.Model(tensor, backbone.output, name="backbone_top")
    pixels = keras.Input(model.input_shape[1:], name="pixels")
    x = pixels
    for layer in layout.inference_inputs(model):
        x = layer(x)
    prefix = keras.Model(pixels, bottom(x, training=False), name="frozen_prefix")
    activations = keras.Input(tensor.shape[1:], name="cached_activations")
    x = upper(activations, training=False)
    for layer in layout.head_layers(model):
        x = layer(x)
    top = keras.Model(activations, x, name="trainable_top")
    return FrozenPrefix(prefix, top, backbone.layers[cut - 1].name)
