"""Training from scratch: the recipe `transfer-keras train --weights none` runs.

A network that starts from random weights has nothing to transfer: every layer
trains, BatchNorm included, in one stage. It needs many small steps, so small
training sets get smaller batches (at least `SCRATCH_MIN_STEPS` steps per
epoch), early stopping waits `SCRATCH_PATIENCE` epochs, and BatchNorm's running
statistics are measured again before each validation (`BatchNormRecalibration`).
"""

import time

from transfer_keras._checks import check_whole_number
from transfer_keras.training import (
    BatchNormRecalibration,
    TransferHistory,
    rebatch_for_steps,
    train_from_scratch,
)

SCRATCH_PATIENCE = 10  # epochs without progress before training from scratch stops
SCRATCH_MIN_STEPS = 8  # training steps per epoch at least, from scratch (smaller batches)


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
    >>> model = build_scratch_classifier("mobilenet", 2, x_train.shape[1:], alpha=0.25)
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
    return TransferHistory(history, seconds={"scratch": time.perf_counter() - start})
