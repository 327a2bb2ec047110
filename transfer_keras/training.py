"""Training recipes: train the new head, fine-tune the backbone, or both.

The two-stage recipe:
1. `train_head`: the backbone is frozen and only the new head learns, with a
   normal learning rate. Fast path: the frozen part of the model is run ONCE
   over the data to cache its features, and the head trains on those
   features; its layers are shared with the full model, so the trained head
   is already in place afterwards. Feature caching does not apply when the
   model holds a random `augmentation` layer (caching would freeze a single
   random draw); then the library trains the full model every epoch instead.
2. `fine_tune`: the top of the backbone is unfrozen (BatchNorm stays frozen),
   the model is recompiled with a small learning rate, and training continues;
   with `warmup_epochs=1` the rate warms up linearly over the first epoch
   (`LinearWarmup`).

What the stages share (defaults, `compile_for_stage`, the checks, `fit_model`)
is in `stages.py`; feature caching in `features.py`; warm-up, checkpoints and
histories in `callbacks.py`; per-group rates in `layer_rates.py`; the
learning-rate range test in `lr_finder.py`; training from scratch in `scratch.py`.

Augmentation AND a fast stage 1: pass the augmentation to stage 2
(`train_two_stage(..., augment=build_augmentation())`) instead of building it
into the model. The head then learns from cached features of the original
images, and the backbone, once it learns, sees new variants every epoch.

Every helper recompiles after changing `trainable` (Keras ignores the change
otherwise), and accepts a `tf.distribute` strategy: build the model with
`build_classifier(..., strategy=strategy)` and pass the same strategy here.
"""

import time

import keras
import tensorflow as tf

from transfer_keras import _keras_compat, layout
from transfer_keras._checks import (
    check_choice,
    check_epochs,
    check_positive_number,
    check_whole_number,
)
from transfer_keras.callbacks import (
    DEFAULT_WARMUP_EPOCHS,
    AtomicCheckpoint,
    LinearWarmup,
    StageHistory,
    TransferHistory,
    best_val_loss,
    build_schedule,
    check_checkpoint_path,
    monitor_for,
    training_callbacks,
)
from transfer_keras.data import augment_dataset
from transfer_keras.features import (
    FEATURE_CACHES,
    build_head_model,
    cached_datasets,
    close_cached,
    frozen_prefix,
    has_random_augmentation,
    where_cached,
)
from transfer_keras.freezing import first_unfrozen_layer, freeze_backbone, unfreeze_backbone
from transfer_keras.layer_rates import (
    DEFAULT_LAYER_GROUPS,
    check_lr_factors,
    group_rate_factors,
    with_layer_rates,
)
from transfer_keras.saving import plain_keras_optimizer
from transfer_keras.stages import (
    DEFAULT_FINE_TUNE_EPOCHS,
    DEFAULT_FINE_TUNE_FRACTION,
    DEFAULT_HEAD_EPOCHS,
    check_training_run,
    compile_for_stage,
    default_learning_rate,
    fit_model,
    keras_verbosity,
    strategy_scope,
)

HEAD_STEPS_PER_EXECUTION = 32


def train_head(model, train_ds, val_ds=None, *, epochs=DEFAULT_HEAD_EPOCHS, learning_rate=None,
               feature_cache="auto", patience=5, checkpoint_path=None, callbacks=None,
               verbose="auto", strategy=None, feature_memory_limit=None):
    """Stage 1: trains the new head on a frozen backbone.

    Args:
        model: a model from `build_classifier`.
        train_ds: batched dataset of (raw images, integer labels).
        val_ds: validation dataset, same form. Defaults to `None`.
        epochs: maximum epochs; early stopping usually ends it sooner. Defaults to `100`
            (epochs on cached features cost milliseconds).
        learning_rate: defaults to `None` (1e-3).
        feature_cache: whether and where to cache the backbone's features, so
            that it runs once and the head trains on them (fast): `"auto"`
            caches unless the model has a random augmentation layer, in memory
            until they pass `feature_memory_limit`, then on disk; `"memory"` or
            `"disk"` (an anonymous temporary file, read batch by batch) cache
            there; `None` runs the backbone every epoch. Defaults to `"auto"`.
        patience: early-stopping patience in epochs on the validation loss (the
            best weights are restored); 0 or `None` to disable. Defaults to `5`
            (fine-tuning curves on small validation sets are noisy).
        checkpoint_path: a `.keras` path that receives the best full model,
            written atomically. Defaults to `None`.
        callbacks: extra Keras callbacks. Defaults to `None`.
        verbose: Keras verbosity; `"auto"` prints one line per epoch. Defaults to `"auto"`.
        strategy: a `tf.distribute` strategy. Defaults to `None`.
        feature_memory_limit: bytes of features `"auto"` keeps in memory.
            Defaults to `None` (`FEATURE_MEMORY_LIMIT`, 2 GiB).

    Returns:
        A `StageHistory`: `history` has the same keys on both paths (loss,
        accuracy, val_...); `feature_cache` says where the features were cached:
        `"memory"`, `"disk"`, or None (not cached: the backbone ran every epoch).

    Raises:
        ValueError: `feature_cache="memory"` or `"disk"` on a model with random
            augmentation; a bad `feature_cache`; a `checkpoint_path` that does not end in
            `.keras` or cannot be a file (checked before training).

    Example:
    >>> history = train_head(model, train_ds, val_ds, epochs=5, verbose=0)
    """
    check_training_run(model, train_ds, val_ds, epochs, patience)
    check_checkpoint_path(checkpoint_path)
    check_choice(feature_cache, "feature_cache", FEATURE_CACHES)
    augmented = has_random_augmentation(model)
    if feature_cache in ("memory", "disk") and augmented:
        raise ValueError(
            f"`feature_cache={feature_cache!r}` cannot be used with a model that has a "
            f"random augmentation layer: the cached features would freeze one random draw. "
            f"Use feature_cache='auto' or None (trains the full model), or build the model "
            f"without augmentation.")
    freeze_backbone(model)
    compile_for_stage(model, stage="head", learning_rate=learning_rate, strategy=strategy)
    if augmented or feature_cache is None:
        history = fit_model(model, train_ds, validation_data=val_ds, epochs=epochs,
                            callbacks=training_callbacks(val_ds, patience, checkpoint_path,
                                                         callbacks, None),
                            verbose=keras_verbosity(verbose))
        return StageHistory.from_keras(history, feature_cache=None)
    with strategy_scope(model, strategy):
        head = build_head_model(model)
    # A head is tiny: run many steps per call, or Python overhead dominates
    # (one under several replicas: Keras's multi-step loop fails there).
    replicas = _keras_compat.distribute_strategy(model, strategy).num_replicas_in_sync
    compile_for_stage(head, stage="head", learning_rate=learning_rate, strategy=strategy,
                      steps_per_execution=HEAD_STEPS_PER_EXECUTION if replicas == 1 else 1)
    train_cached, val_cached, cached = cached_datasets(
        model, train_ds, val_ds, feature_cache, memory_limit=feature_memory_limit)
    try:
        history = fit_model(head, train_cached, epochs=epochs, validation_data=val_cached,
                            callbacks=training_callbacks(val_ds, patience, checkpoint_path,
                                                         callbacks, model),
                            verbose=keras_verbosity(verbose))
    finally:
        close_cached(cached)
    with strategy_scope(model, strategy):  # the full model's optimizer never ran: build it, so
        model.optimizer.build(model.trainable_variables)  # save/load round-trips cleanly
    return StageHistory.from_keras(history, feature_cache=where_cached(cached))


def fine_tune(model, train_ds, val_ds=None, *, epochs=DEFAULT_FINE_TUNE_EPOCHS, num_layers=None,
              from_layer=None, fraction=None, learning_rate=None, patience=5, checkpoint_path=None,
              callbacks=None, initial_epoch=0, verbose="auto", strategy=None,
              augment=None, warmup_epochs=DEFAULT_WARMUP_EPOCHS, feature_cache="auto",
              lr_factors=None, lr_decay=None,
              groups=DEFAULT_LAYER_GROUPS, gradual=False, schedule=None):
    """Stage 2: unfreezes the top of the backbone (BatchNorm stays frozen) and trains on.

    Give at most one of `num_layers`, `from_layer`, `fraction`; with none, the
    whole backbone is unfrozen (BatchNorm stays frozen). Always recompiles.

    Args:
        model: a model from `build_classifier`, head already trained.
        train_ds: batched dataset of (raw images, integer labels).
        val_ds: validation dataset. Defaults to `None`.
        epochs: maximum epochs for this stage (with `gradual`, for each group).
            Defaults to `10` (early stopping ends it sooner).
        num_layers: unfreeze the last N backbone layers. Defaults to `None`.
        from_layer: unfreeze from this backbone layer name up. Defaults to `None`.
        fraction: unfreeze the top fraction of the backbone. Defaults to `None` (1.0:
            all of it, in small steps).
        learning_rate: the rate of the head (and of every layer without
            `lr_factors`); with `schedule`, its peak. Defaults to `None`: the backbone's
            own rate (`default_learning_rate`: 9.25e-5 for EfficientNet-Lite0, else 3e-5).
        patience, checkpoint_path, callbacks, verbose, strategy: as in `train_head`.
        initial_epoch: epoch number to start counting from. Defaults to `0`.
        augment: a random augmentation applied to the training batches, e.g.
            `build_augmentation()`: the backbone now learns, and new variants
            of the few photos every epoch keep it from memorising them.
            Defaults to `None`.
        warmup_epochs: epochs over which the learning rate climbs linearly,
            step by step, from a tenth of `learning_rate` to `learning_rate`
            (`LinearWarmup`): the first steps after unfreezing are the riskiest,
            since a head trained on frozen features meets a backbone that now
            moves. 0 starts at the full rate. Defaults to `0` (see
            `DEFAULT_WARMUP_EPOCHS`); `1` is a good choice.
        feature_cache: when only the top of the backbone is unfrozen, run the
            frozen bottom once over the data, cache its output, and train
            only the top on it (`features.frozen_prefix`): an epoch then costs
            what the unfrozen part costs, with the same result. `"auto"`,
            `"memory"` and `"disk"` do so (where: see `train_head`) unless the
            training images are augmented (augmentation acts on pixels, so the
            full model runs, and a verbose run says so); `None` never.
            Defaults to `"auto"`.
        lr_factors: discriminative learning rates: one factor per group of
            `layer_groups(model, len(lr_factors))`, bottom of the backbone to
            the head, e.g. `(0.01, 0.1, 1.0)`; each group trains at
            `learning_rate * factor`, and a group at 0 stays frozen. Defaults to `None`.
        lr_decay: the same as a geometric series: each of `groups` groups
            trains at `lr_decay` times the rate of the group above it, e.g.
            `0.3`. Defaults to `None`.
        groups: the number of layer groups (the head is one) for `lr_decay`
            and `gradual`. Defaults to `4`.
        gradual: unfreeze one group at a time, from the top (ULMFiT): each
            step trains up to `epochs` epochs with its own early stopping, and
            the next group is unfrozen only if the step beat the best
            validation loss so far (else its weights are undone and training
            ends). Steps train on the cached prefix below their lowest group.
            Defaults to `False`.
        schedule: `None` (constant rate, with `warmup_epochs`), `"cosine"`
            (`WarmupCosine`: the warm-up, then a cosine decay over `epochs`) or
            `"one_cycle"` (`OneCycle`, its own warm-up). Defaults to `None`.

    Returns:
        A `StageHistory` of this stage. Its `prefix_cache` says
        where the frozen prefix's outputs were cached (`"memory"`, `"disk"`)
        and its `cut_layer` the backbone layer they come from; both are None
        when the full model ran (with `gradual`, those of the first step).
        With `gradual`, `history.steps` lists each step: the first layer
        unfrozen, the epochs it ran, its best validation loss and whether it
        was kept. The model ends compiled with a plain Keras optimizer (per-layer
        rates and schedules are training-time only), so it saves and loads anywhere.

    Example:
    >>> history = fine_tune(model, train_ds, val_ds, epochs=2, num_layers=20, verbose=0)
    >>> history = fine_tune(model, train_ds, val_ds, epochs=5, lr_decay=0.3, gradual=True,
    ...                     schedule="cosine", learning_rate=1e-3, verbose=0)
    """
    check_training_run(model, train_ds, val_ds, epochs, patience)
    warmup_epochs = check_epochs(warmup_epochs, name="warmup_epochs", minimum=0,
                                 hint="Use 0 for no warm-up.")
    check_checkpoint_path(checkpoint_path)
    check_choice(feature_cache, "feature_cache", FEATURE_CACHES)
    settings = _check_recipe(model, train_ds, learning_rate, lr_factors, lr_decay, groups,
                             gradual, schedule)
    if num_layers is None and from_layer is None and fraction is None:
        fraction = DEFAULT_FINE_TUNE_FRACTION
    region = first_unfrozen_layer(model, num_layers=num_layers, from_layer=from_layer,
                                  fraction=fraction)
    augmented = augment is not None or has_random_augmentation(model)
    if augment is not None:
        train_ds = augment_dataset(train_ds, augment)
    run = dict(epochs=epochs, patience=patience, checkpoint_path=checkpoint_path,
               callbacks=callbacks, verbose=verbose, strategy=strategy, augmented=augmented,
               warmup_epochs=warmup_epochs, feature_cache=feature_cache, **settings)
    if gradual:
        history = _gradual_unfreezing(model, train_ds, val_ds, region, initial_epoch, run)
    else:
        history = _fine_tune_step(model, train_ds, val_ds, region, initial_epoch, **run)
    with strategy_scope(model, strategy):  # plain Keras from here on: see `plain_keras_optimizer`
        optimizer = plain_keras_optimizer(model.optimizer)
        if optimizer is not None:
            compile_for_stage(model, stage="fine_tune", learning_rate=settings["learning_rate"],
                              optimizer=optimizer, strategy=strategy)
            model.optimizer.build(model.trainable_variables)
    return history


SCHEDULE_CHOICES = (None, "cosine", "one_cycle")


def _check_recipe(model, train_ds, learning_rate, lr_factors, lr_decay, groups, gradual,
                  schedule):
    """Checks the stage-2 recipe options before any work; returns them resolved."""
    if learning_rate is None:
        learning_rate = default_learning_rate(model, stage="fine_tune")
    learning_rate = check_positive_number(learning_rate, "learning_rate")
    groups = check_whole_number(groups, "groups", 2, what="a whole number of layer groups",
                                hint="The head is one group, so 2 is the fewest.")
    factors = check_lr_factors(lr_factors, lr_decay, groups)
    if gradual not in (True, False):
        raise ValueError(f"`gradual` must be True or False; received {gradual!r}.")
    check_choice(schedule, "schedule", SCHEDULE_CHOICES)
    steps = None
    if schedule is not None:
        steps = int(train_ds.cardinality())
        if steps < 1:
            raise ValueError(
                f"`schedule={schedule!r}` needs the number of batches per epoch, and "
                f"`train_ds` does not know it (cardinality {steps}). Tell it: "
                f"train_ds.apply(tf.data.experimental.assert_cardinality(batches)), or "
                f"use schedule=None.")
    if factors is not None or gradual:  # fails now, not after training, on a bad count
        count = len(factors) if factors else groups
        most = len(layout.block_starts(layout.backbone_of(model))) + 1
        if count > most:
            name = "lr_factors" if lr_factors is not None else "groups"
            raise ValueError(
                f"`{name}` asks for {count} layer groups, but this backbone has {most - 1} "
                f"blocks, so at most {most} groups (each block, then the head); received "
                f"{name}={lr_factors if lr_factors is not None else groups!r}.")
    return dict(learning_rate=learning_rate, factors=factors,
                groups=len(factors) if factors else groups, schedule=schedule,
                steps_per_epoch=steps)


def _stage_optimizer(model, learning_rate, factors, schedule, steps_per_epoch, epochs,
                     warmup_epochs):
    """A fresh Adam for one fine-tuning step: the rate or schedule, and the
    per-group factors as per-variable rates (`with_layer_rates`)."""
    rate = learning_rate
    if schedule is not None:
        rate = build_schedule(schedule, learning_rate, steps_per_epoch, epochs,
                              warmup_epochs=warmup_epochs)
    optimizer = keras.optimizers.Adam(rate)
    if factors is not None:
        optimizer = with_layer_rates(optimizer, group_rate_factors(model, factors))
    return optimizer


def _freeze_zero_groups(model, factors):
    """A group whose factor is 0 does not learn: freeze it (so its output can be cached)."""
    if factors is None:
        return
    for group, factor in zip(layout.layer_groups(model, len(factors)), factors):
        if factor == 0:
            for layer in group.layers:
                layer.trainable = False


def _fine_tune_step(model, train_ds, val_ds, start, initial_epoch, *, epochs, patience,
                    checkpoint_path, callbacks, verbose, strategy, augmented, warmup_epochs,
                    feature_cache, learning_rate, factors, groups, schedule,
                    steps_per_epoch):
    """Unfreezes `backbone.layers[start:]` (BatchNorm aside), compiles and trains."""
    backbone = layout.backbone_of(model)
    unfreeze_backbone(model, num_layers=len(backbone.layers) - start)
    _freeze_zero_groups(model, factors)

    def optimizer():  # made in the strategy's scope, as its variables must be
        with strategy_scope(model, strategy):
            return _stage_optimizer(model, learning_rate, factors, schedule, steps_per_epoch,
                                    epochs, warmup_epochs)

    compile_for_stage(model, stage="fine_tune", learning_rate=learning_rate,
                      optimizer=optimizer(), strategy=strategy)
    with strategy_scope(model, strategy):  # the halves belong to the model's strategy too
        split = frozen_prefix(model) if feature_cache is not None else None
    if split is not None and augmented:
        if keras_verbosity(verbose):
            print("fine_tune: the training images are augmented, so the frozen bottom of "
                  "the backbone runs every epoch (its output cannot be cached).")
        split = None
    trained, cached = (model, []) if split is None else (split.top, None)
    if split is not None:
        compile_for_stage(trained, stage="fine_tune", learning_rate=learning_rate,
                          optimizer=optimizer(), strategy=strategy)
        pixels = (None,) + tuple(model.input_shape[1:])
        run = tf.function(lambda images: split.prefix(images, training=False),
                          input_signature=[tf.TensorSpec(pixels, tf.float32)])
        train_ds, val_ds, cached = cached_datasets(model, train_ds, val_ds, feature_cache,
                                                    run=run, val_batch_size=None)
    warmup = []
    if warmup_epochs and schedule is None:
        warmup = [LinearWarmup(learning_rate, warmup_epochs)]
    try:
        history = fit_model(trained, train_ds, validation_data=val_ds,
                            epochs=initial_epoch + epochs, initial_epoch=initial_epoch,
                            callbacks=warmup + training_callbacks(val_ds, patience,
                                                                  checkpoint_path, callbacks,
                                                                  model),
                            verbose=keras_verbosity(verbose))
    finally:
        close_cached(cached)
    if split is None:
        return StageHistory.from_keras(history)
    with strategy_scope(model, strategy):  # the full model's optimizer never ran: build it
        model.optimizer.build(model.trainable_variables)
    return StageHistory.from_keras(history, prefix_cache=where_cached(cached),
                                   cut_layer=split.cut_layer)


def _gradual_unfreezing(model, train_ds, val_ds, region, initial_epoch, run):
    """Unfreezes the backbone's groups one by one from the top, each step a
    `_fine_tune_step`; stops (undoing the step) when a step does not beat the
    best validation loss so far. Returns one `StageHistory` of all steps."""
    backbone = layout.backbone_of(model)
    index = {id(layer): position for position, layer in enumerate(backbone.layers)}
    starts = [index[id(group.layers[0])] for group in layout.layer_groups(model,
                                                                          run["groups"])[:-1]]
    ends = starts[1:] + [len(backbone.layers)]
    steps = [max(start, region) for start, end in zip(starts, ends) if end > region]
    merged, records, first = {}, [], None
    best, best_weights, epoch = None, None, initial_epoch
    for start in reversed(steps):
        history = _fine_tune_step(model, train_ds, val_ds, start, epoch, **run)
        first = first or history
        epoch += len(history.epoch)
        for key, values in history.history.items():
            merged.setdefault(key, []).extend(values)
        step_best = best_val_loss(history)
        step = {"from_layer": backbone.layers[start].name, "epochs": len(history.epoch),
                "best_val_loss": step_best, "kept": True}
        records.append(step)
        if step_best is None:
            continue
        if best is not None and not step_best < best:
            model.set_weights(best_weights)  # a deeper step that did not help: undo, stop
            step["kept"] = False
            break
        best, best_weights = step_best, model.get_weights()
    return StageHistory(history=merged, epoch=list(range(initial_epoch, epoch)),
                        prefix_cache=first.prefix_cache, cut_layer=first.cut_layer,
                        steps=tuple(records))


def train_two_stage(model, train_ds, val_ds=None, *, head_epochs=DEFAULT_HEAD_EPOCHS,
                    fine_tune_epochs=DEFAULT_FINE_TUNE_EPOCHS,
                    head_learning_rate=None, fine_tune_learning_rate=None,
                    num_layers=None, from_layer=None, fraction=None,
                    feature_cache="auto", patience=5, checkpoint_path=None,
                    verbose="auto", strategy=None, augment=None, after_head=None,
                    warmup_epochs=DEFAULT_WARMUP_EPOCHS, lr_factors=None, lr_decay=None,
                    groups=DEFAULT_LAYER_GROUPS, gradual=False, schedule=None):
    """The whole recipe: `train_head`, then `fine_tune`; returns one merged history.

    Args:
        model: a model from `build_classifier`.
        train_ds, val_ds: batched datasets of (raw images, integer labels).
        head_epochs: stage-1 epochs. Defaults to `100` (early stopping ends it).
        fine_tune_epochs: stage-2 epochs, 0 to skip stage 2. Defaults to `10`.
        head_learning_rate: defaults to `None` (1e-3).
        fine_tune_learning_rate: defaults to `None`: the backbone's own rate
            (`default_learning_rate`: 9.25e-5 for EfficientNet-Lite0, else 3e-5).
        num_layers, from_layer, fraction: what to unfreeze (see `fine_tune`).
        feature_cache: stage 1 caches the backbone's features and stage 2 the
            output of its frozen bottom: `"auto"`, `"memory"`, `"disk"`, or
            `None` for no cache (see `train_head` and `fine_tune`). Defaults to `"auto"`.
        patience, checkpoint_path, verbose, strategy: see `train_head`.
        augment: a random augmentation for the training batches of stage 2, e.g.
            `build_augmentation()` (see `fine_tune`). Stage 1 still trains the head
            on cached features of the original images, so it stays fast; with
            `feature_cache=None`, stage 1 is augmented too. Defaults to `None`.
        after_head: a function called with the model when stage 1 is done (its
            best head restored), before fine-tuning; e.g. to score or save the
            frozen-backbone model. Defaults to `None`.
        warmup_epochs: the learning-rate warm-up at the start of fine-tuning
            (see `fine_tune`). Defaults to `0`.
        lr_factors, lr_decay, groups, gradual, schedule: the stage-2 recipe:
            discriminative rates, gradual unfreezing and the rate schedule
            (see `fine_tune`). Defaults to `None`, `None`, `4`, `False`, `None`.

    Returns:
        A `TransferHistory` with `fine_tune_epoch` marking where stage 2 began.
        With validation data the model ends with the best weights of BOTH
        stages: stage 2's best epoch if it beat stage 1's best validation loss,
        else stage 1's head (`history.kept_stage` says which). A
        `checkpoint_path` likewise holds the best model of both stages.

    Example:
    >>> history = train_two_stage(model, train_ds, val_ds, head_epochs=2, fine_tune_epochs=2,
    ...                           verbose=0)
    >>> figure = plot_history(history)
    """
    # Every option is checked before stage 1: a typo in a stage-2 option must
    # not cost a trained head.
    check_epochs(head_epochs, name="head_epochs")
    check_epochs(fine_tune_epochs, name="fine_tune_epochs", minimum=0,
                 hint="Use 0 to skip stage 2.")
    for rate, name in [(head_learning_rate, "head_learning_rate"),
                       (fine_tune_learning_rate, "fine_tune_learning_rate")]:
        if rate is not None:
            check_positive_number(rate, name)
    check_choice(feature_cache, "feature_cache", FEATURE_CACHES)
    if fine_tune_epochs:
        first_unfrozen_layer(model, num_layers=num_layers, from_layer=from_layer, fraction=fraction)
        check_epochs(warmup_epochs, name="warmup_epochs", minimum=0, hint="Use 0 for no warm-up.")
        _check_recipe(model, train_ds, fine_tune_learning_rate, lr_factors, lr_decay, groups,
                      gradual, schedule)
    start = time.perf_counter()
    head_train_ds = train_ds
    if augment is not None and feature_cache is None:
        head_train_ds = augment_dataset(train_ds, augment)
    # One checkpoint for both stages: it keeps the best score seen so far, so a
    # worse first fine-tuning epoch cannot overwrite stage 1's best model.
    checkpoint = (None if checkpoint_path is None else
                  [AtomicCheckpoint(checkpoint_path, monitor_for(val_ds), model)])
    head_history = train_head(model, head_train_ds, val_ds, epochs=head_epochs,
                              learning_rate=head_learning_rate, feature_cache=feature_cache,
                              patience=patience, callbacks=checkpoint, verbose=verbose,
                              strategy=strategy)
    seconds = {"head": time.perf_counter() - start}
    if after_head is not None:
        after_head(model)
    if not fine_tune_epochs:
        return TransferHistory.from_stages(head_history, seconds=seconds)
    start = time.perf_counter()
    head_best = best_val_loss(head_history)
    head_weights = model.get_weights() if head_best is not None else None
    fine_tune_history = fine_tune(
        model, train_ds, val_ds, epochs=fine_tune_epochs, num_layers=num_layers,
        from_layer=from_layer, fraction=fraction, learning_rate=fine_tune_learning_rate,
        patience=patience, callbacks=checkpoint, initial_epoch=len(head_history.epoch),
        verbose=verbose, strategy=strategy, augment=augment, warmup_epochs=warmup_epochs,
        feature_cache=feature_cache, lr_factors=lr_factors, lr_decay=lr_decay, groups=groups,
        gradual=gradual, schedule=schedule)
    kept_stage = None
    if head_best is not None:
        # Early stopping restored stage 2's best epoch; keep it only if it beats
        # stage 1's best, as the checkpoint does.
        kept_stage = "fine_tune"
        if not best_val_loss(fine_tune_history) < head_best:
            model.set_weights(head_weights)
            kept_stage = "head"
    seconds["fine_tune"] = time.perf_counter() - start
    return TransferHistory.from_stages(head_history, fine_tune_history, seconds=seconds,
                                       kept_stage=kept_stage)
