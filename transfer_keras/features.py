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
>>> model = tk.build_classifier("efficientnet_lite0", 2, input_shape=(64, 64, 3), weights=None)
>>> _ = tk.unfreeze_backbone(model, from_layer="block6a_expand_conv")
>>> frozen_prefix(model).cut_layer
'block5c_add'
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import layout
from transfer_keras.data import RecordFile
from transfer_keras.inference import traced_inference
from transfer_keras.layout import clean_cut
from transfer_keras.stages import check_label_range

# Cached features up to this many bytes stay in memory; more go to disk (`feature_cache`).
FEATURE_MEMORY_LIMIT = 2 * 2**30
FEATURE_CACHES = ("auto", "memory", "disk", None)  # None: no cache, the backbone runs


@dataclasses.dataclass(frozen=True)
class FrozenPrefix:
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


def has_random_augmentation(model):
    """True when the model holds an `augmentation` layer (feature caching can't apply)."""
    return layout.augmentation_of(model) is not None


def build_feature_extractor(model):
    """Returns the frozen part of a classifier: raw pixels -> pooled features."""
    return layout.feature_model(model)


def extract_features(model, ds):
    """Runs the frozen part of a classifier once over a dataset.

    Args:
        model: a model from `build_classifier`.
        ds: a batched dataset of (images, labels).

    Returns:
        `(features, labels)` numpy arrays, aligned (the dataset is read once, so
        a shuffled dataset stays consistent).
    """
    features, labels, _ = extract_outputs(model, {"ds": ds})["ds"]
    return features, labels


def extract_outputs(model, datasets, *, memory_limit=None, run=None):
    """`{name: (features, labels, batch_size)}` for each named dataset, from ONE
    compiled extractor (`batch_size`: that of the dataset's first batch); `run`,
    a traced function of float32 pixels, replaces the pooled-feature extractor.

    Compiling (tracing) a backbone costs about as much as running it over a
    few hundred images, so a single function, traced once for any batch
    size, serves every batch of every dataset. `None` datasets are skipped.

    `features` is a numpy array, or, once the features of all datasets pass
    `memory_limit` bytes, a `RecordFile` on disk (the batches so far are moved
    there and the rest are written there as they come).
    """
    run = run or traced_inference(model, features=True)
    results, in_memory = {}, 0
    for name, ds in datasets.items():
        if ds is None:
            continue
        # Images and labels come out of the dataset together, so they stay
        # paired even when the dataset reshuffles on every pass.
        features, labels, on_disk, first_batch = [], [], None, None
        for images, batch_labels in ds:
            batch = run(tf.cast(images, tf.float32)).numpy()
            first_batch = first_batch or len(batch)
            labels.append(np.asarray(batch_labels))
            if on_disk is None and memory_limit is not None and (
                    in_memory + batch.nbytes > memory_limit):
                on_disk = RecordFile(batch.shape[1:], batch.dtype)
                for earlier in features:
                    on_disk.append(earlier)
                features = []
            if on_disk is not None:
                on_disk.append(batch)
            else:
                features.append(batch)
                in_memory += batch.nbytes
        if first_batch is None:
            raise ValueError(f"`{name}` is empty: it yielded no batch, so there are no "
                             f"features to extract. Check the dataset (e.g. a `take` or "
                             f"`filter` that removed everything).")
        results[name] = (np.concatenate(features) if on_disk is None else on_disk,
                         np.concatenate(labels), first_batch)
    return results


def feature_dataset(features, labels, batch_size, shuffle):
    """Cached features (an array, or a `RecordFile` on disk) as batches for the head."""
    if isinstance(features, RecordFile):
        return features.dataset(np.arange(len(features)), labels, batch_size,
                                shuffle=shuffle).prefetch(2)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def cached_datasets(model, train_ds, val_ds, feature_cache, *, memory_limit=None, run=None,
                     val_batch_size=256):
    """Runs the frozen part once over `train_ds` and `val_ds` (`run`: a traced
    function of pixels; defaults to the pooled-feature extractor) and returns
    `(train, val, cached)`: its outputs as datasets, the training one reshuffled
    every epoch and batched like the original, and the arrays (or `RecordFile`s
    on disk, per `feature_cache` and `memory_limit`) behind them."""
    limit = {"memory": None, "disk": 0,
             "auto": FEATURE_MEMORY_LIMIT if memory_limit is None else memory_limit,
             }[feature_cache]
    extracted = extract_outputs(model, {"train_ds": train_ds, "val_ds": val_ds},
                                memory_limit=limit, run=run)
    for name, (_, labels, _) in extracted.items():
        check_label_range(model, labels, name)
    features, labels, batch_size = extracted["train_ds"]
    train = feature_dataset(features, labels, batch_size, shuffle=True)
    val = None
    if val_ds is not None:
        features, labels, _ = extracted["val_ds"]
        val = feature_dataset(features, labels, val_batch_size or batch_size, shuffle=False)
    return train, val, [features for features, _, _ in extracted.values()]


def close_cached(cached):
    """Removes the temporary files of cached outputs now, not at garbage collection."""
    for features in cached:
        if isinstance(features, RecordFile):
            features.close()


def where_cached(cached):
    """Where cached outputs live: "disk" if any went to a temporary file, else "memory"."""
    return "disk" if any(isinstance(features, RecordFile) for features in cached) else "memory"


def build_head_model(model):
    """A model of the head alone, sharing its layers (and weights) with `model`."""
    pooling, *layers = layout.head_layers(model)
    width = pooling.output.shape[-1]
    return keras.Sequential([keras.Input((width,), name="features")] + layers,
                            name="head")
