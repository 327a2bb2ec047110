"""Training from scratch: the no-transfer baseline, and pretraining a source backbone.

A network that starts from random weights has nothing to transfer: every layer
trains, BatchNorm included, in one stage. It needs many small steps, so
`fit_from_scratch` (the recipe `transfer-keras train --weights none` runs) gives
small training sets smaller batches (at least `SCRATCH_MIN_STEPS` steps per
epoch), waits `SCRATCH_PATIENCE` epochs before early stopping, and measures
BatchNorm's running statistics again before each validation
(`BatchNormRecalibration`). `pretrain_source` trains a backbone on a source task,
to transfer from it as from ImageNet.
"""

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import layout
from transfer_keras._checks import check_whole_number
from transfer_keras._files import atomic_path, write_text_atomically
from transfer_keras.callbacks import BatchNormRecalibration, TransferHistory, training_callbacks
from transfer_keras.data import augment_dataset
from transfer_keras.models import backbone_name, build_scratch_classifier
from transfer_keras.stages import check_training_run, compile_for_stage, fit_model, keras_verbosity

SCRATCH_PATIENCE = 10  # epochs without progress before training from scratch stops
SCRATCH_MIN_STEPS = 8  # training steps per epoch at least, from scratch (smaller batches)


def rebatch_for_steps(train_ds, num_images, batch_size, min_steps):
    """Smaller batches when `num_images` in batches of `batch_size` give fewer than
    `min_steps` steps per epoch (a network learning from scratch needs many steps).

    Returns:
        `(dataset, smaller_batch_size)`, or `(train_ds, None)` when the batches
        are small enough already.
    """
    smaller = max(1, num_images // min_steps)
    if smaller >= batch_size:
        return train_ds, None
    steps = -(-num_images // smaller)  # rounded up; told to Keras, which cannot count
    return (train_ds.unbatch().batch(smaller)  # an unbatched dataset itself
            .apply(tf.data.experimental.assert_cardinality(steps))), smaller


def train_from_scratch(model, train_ds, val_ds=None, *, epochs=100, learning_rate=1e-3,
                       patience=10, augment=None, verbose="auto", strategy=None,
                       callbacks=None):
    """Trains every layer of a randomly initialised model: the no-transfer baseline.

    Args:
        model: e.g. from `build_small_cnn` or `build_scratch_classifier`.
        train_ds, val_ds: batched datasets of (raw images, integer labels).
        epochs: maximum epochs. Defaults to `100`.
        learning_rate: Adam learning rate; choose it on the validation set.
            Defaults to `1e-3`.
        patience: early-stopping patience on the validation loss (best weights
            restored); 0 or `None` to disable. Defaults to `10` (a model that
            starts from nothing improves in fits and starts).
        augment: a random augmentation applied to the training batches, e.g.
            `build_augmentation()`. Defaults to `None`.
        verbose, strategy: as in `train_head`.
        callbacks: extra Keras callbacks, e.g. `BatchNormRecalibration(train_ds)`.
            Defaults to `None`.

    Returns:
        The Keras `History`.

    Example:
    >>> model = build_small_cnn(2, (128, 128, 3))
    >>> history = train_from_scratch(model, train_ds, val_ds, epochs=2, learning_rate=1e-3,
    ...                              verbose=0)
    """
    check_training_run(model, train_ds, val_ds, epochs, patience)
    if augment is not None:
        train_ds = augment_dataset(train_ds, augment)
    model.trainable = True
    compile_for_stage(model, stage="scratch", learning_rate=learning_rate, strategy=strategy)
    return fit_model(model, train_ds, validation_data=val_ds, epochs=epochs,
                callbacks=training_callbacks(val_ds, patience, None, callbacks, None),
                verbose=keras_verbosity(verbose))


def pretrain_source(backbone, source_train, source_val=None, *, num_classes=None,
                    epochs=10, learning_rate=1e-3, save_path=None, patience=3,
                    metadata=None, verbose="auto", strategy=None, **backbone_kwargs):
    """Trains a `keras.applications` architecture from scratch on a source task.

    Use it when no ImageNet weights fit your domain: pretrain on a large
    related (source) task, then transfer with
    `build_classifier(backbone, ..., weights=save_path)`, exactly like ImageNet.

    Args:
        backbone: a backbone name from `BACKBONES`.
        source_train: batched dataset of (raw images, integer labels).
        source_val: validation dataset. Defaults to `None`.
        num_classes: classes of the source task. Defaults to `None` (read from
            the labels of `source_train`).
        epochs: maximum epochs. Defaults to `10`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        save_path: where to write the backbone's weights, ending in
            `.weights.h5`; a `.json` file with the same stem records how they
            were made. Defaults to `None` (not saved).
        patience: early-stopping patience (best weights restored). Defaults to `3`.
        metadata: extra facts to record in the `.json` file. Defaults to `None`.
        verbose, strategy: as in `train_head`.
        **backbone_kwargs: extra backbone constructor arguments (e.g. `alpha=0.25`).

    Returns:
        `(model, history)`: the whole source classifier and its Keras `History`.

    Example:
    >>> model, history = pretrain_source("mobilenet", src_train, src_val, epochs=2,
    ...                                  save_path="source.weights.h5", verbose=0, alpha=0.25)
    """
    if save_path is not None:
        save_path = Path(save_path)
        if not save_path.name.endswith(".weights.h5"):
            raise ValueError(
                f"`save_path` must end in '.weights.h5'; received {str(save_path)!r}."
            )
    input_shape = tuple(int(d) for d in source_train.element_spec[0].shape[1:])
    if num_classes is None:
        num_classes = int(max(int(np.max(labels)) for _, labels in source_train)) + 1
    model = build_scratch_classifier(backbone, num_classes, input_shape=input_shape,
                                     strategy=strategy, **backbone_kwargs)
    compile_for_stage(model, stage="head", learning_rate=learning_rate, strategy=strategy)
    start = time.perf_counter()
    history = fit_model(model, source_train, validation_data=source_val, epochs=epochs,
                   callbacks=training_callbacks(source_val, patience, None, None, None),
                   verbose=keras_verbosity(verbose))
    seconds = time.perf_counter() - start
    if source_val is not None:  # the restored best weights, measured once more
        metadata = {"source_val_accuracy": round(float(
            model.evaluate(source_val, verbose=0)[1]), 4), **(metadata or {})}
    if save_path is not None:
        with atomic_path(save_path, suffix=".weights.h5") as temporary:
            layout.backbone_of(model).save_weights(temporary)
        record = {
            "backbone": backbone_name(model),
            "backbone_kwargs": backbone_kwargs,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "epochs_run": len(history.epoch),
            "train_seconds": round(seconds, 1),
            "final": {k: round(float(v[-1]), 4) for k, v in history.history.items()},
            "keras_version": keras.__version__,
            **(metadata or {}),
        }
        write_text_atomically(save_path.with_name(save_path.name[:-len(".weights.h5")]
                                               + ".json"),
                           json.dumps(record, indent=2) + "\n")
    return model, history


def fit_from_scratch(model, train_ds, val_ds=None, *, num_images, epochs, batch_size,
                     augment=None, patience=SCRATCH_PATIENCE, min_steps=SCRATCH_MIN_STEPS,
                     verbose="auto"):
    """Trains every layer of a randomly initialised model, with batches small enough.

    Args:
        model: a model with random weights, e.g. from `build_scratch_classifier`.
        train_ds, val_ds: batched datasets of (raw images, integer labels).
        num_images: the number of training images in `train_ds`.
        epochs: maximum epochs; early stopping may end sooner.
        batch_size: the batch size of `train_ds`.
        augment: a random augmentation of the training batches, e.g.
            `build_augmentation()`. Defaults to `None`.
        patience: early-stopping patience in epochs. Defaults to `SCRATCH_PATIENCE` (10).
        min_steps: training steps per epoch at least: smaller batches when
            `num_images` in batches of `batch_size` give fewer. Defaults to
            `SCRATCH_MIN_STEPS` (8).
        verbose: as in `keras.Model.fit`; when not 0, also says when the batches
            were made smaller. Defaults to `"auto"`.

    Returns:
        A `TransferHistory` of one stage; `seconds` is `{"scratch": ...}`.

    Raises:
        ValueError: a count below 1, or the checks of `train_from_scratch`.

    Example (16 images in batches of 8 give 2 steps: it trains on 8 batches of 2):
    >>> small_ds = tf.data.Dataset.from_tensor_slices((x_train[:16], y_train[:16])).batch(8)
    >>> model = build_scratch_classifier("mobilenet", 2, input_shape=x_train.shape[1:], alpha=0.25)
    >>> history = fit_from_scratch(model, small_ds, num_images=16, epochs=1, batch_size=8,
    ...                            verbose=0)
    >>> list(history.seconds)
    ['scratch']
    """
    num_images = check_whole_number(num_images, "num_images")
    batch_size = check_whole_number(batch_size, "batch_size")
    min_steps = check_whole_number(min_steps, "min_steps")
    start = time.perf_counter()
    train_ds, smaller = rebatch_for_steps(train_ds, num_images, batch_size, min_steps)
    if smaller is not None and verbose != 0:
        print(f"Batches of {smaller} instead of {batch_size}: {num_images} training images "
              f"give {min_steps} steps per epoch (a network learning from scratch "
              f"needs many small steps)", flush=True)
    history = train_from_scratch(model, train_ds, val_ds, epochs=epochs, patience=patience,
                                 augment=augment, verbose=verbose,
                                 callbacks=[BatchNormRecalibration(train_ds)])
    return TransferHistory.from_stages(history,
                                       seconds={"scratch": time.perf_counter() - start})
