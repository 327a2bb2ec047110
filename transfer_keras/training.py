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

`find_learning_rate` runs the learning-rate range test for either stage (the
rate grows exponentially batch by batch while the loss is recorded) and
suggests a rate; it leaves the model as it found it.

Augmentation AND a fast stage 1: pass the augmentation to stage 2
(`train_two_stage(..., augment=build_augmentation())`) instead of building it
into the model. The head then learns from cached features of the original
images, and the backbone, once it learns, sees new variants every epoch.

Every helper recompiles after changing `trainable` (Keras ignores the change
otherwise), and accepts a `tf.distribute` strategy: build the model with
`build_classifier(..., strategy=strategy)` and pass the same strategy here.
"""

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import layout
from transfer_keras._keras_compat import build_before_fit, multi_worker_fit
from transfer_keras._checks import (
    check_choice,
    check_fraction,
    check_positive_number,
    check_seed,
    check_whole_number,
    is_number,
    is_one_of,
)
from transfer_keras._files import atomic_path, write_text_atomically
from transfer_keras.backbones import get_backbone_spec
from transfer_keras.data import augment_dataset
from transfer_keras.data.pipelines import RecordFile
from transfer_keras.callbacks import build_schedule
from transfer_keras.features import frozen_prefix
from transfer_keras.freezing import first_unfrozen_layer, freeze_backbone, unfreeze_backbone
from transfer_keras.inference import loss_for, num_classes_of
from transfer_keras.inference import traced_inference as _traced_inference
from transfer_keras.models import (
    backbone_name,
    build_scratch_classifier,
    plain_keras_optimizer,
    save_model,
)

# The defaults are the recipe measured best on a few hundred photos: a long
# stage 1 on cached features (early stopping ends it), then the whole backbone
# (BatchNorm frozen) in small steps for up to 10 epochs. The stage-2 rate is the
# backbone's own where one was measured (`BackboneSpec.fine_tune_learning_rate`:
# 9.25e-5 for EfficientNet-Lite0, chosen by benchmarks/choose_fine_tuning.py);
# otherwise 3e-5, a cautious rate: on MobileNet-0.25, 9.25e-5 scored below it
# (benchmarks/defaults_mobilenet.py).
STAGE_LEARNING_RATES = {"head": 1e-3, "fine_tune": 3e-5}
DEFAULT_FINE_TUNE_FRACTION = 1.0
DEFAULT_HEAD_EPOCHS = 100
DEFAULT_FINE_TUNE_EPOCHS = 10
HEAD_STEPS_PER_EXECUTION = 32
# Cached features up to this many bytes stay in memory; more go to disk (`feature_cache`).
FEATURE_MEMORY_LIMIT = 2 * 2**30
FEATURE_CACHES = ("auto", "memory", "disk")
# Fine-tuning starts with a linear warm-up: the rate climbs per step from
# WARMUP_START_FRACTION of the target to the target over the first epoch, so
# the first large gradients of a just-unfrozen backbone cannot wreck it.
# Off by default for now: the default recipe's published figures (demo, README,
# benchmarks/showcase.py) were measured without it; it becomes the default once
# that benchmark has measured the recipe with it. Notebook 03 teaches it.
DEFAULT_WARMUP_EPOCHS = 0
# Layer groups for discriminative rates (`lr_decay`) and gradual unfreezing:
# three of the backbone, then the head.
DEFAULT_LAYER_GROUPS = 4
WARMUP_START_FRACTION = 0.1


def default_learning_rate(model, stage="fine_tune"):
    """The learning rate a stage uses when none is given.

    1e-3 for the head. For fine-tuning, the rate measured best for the model's
    backbone where there is one (`BackboneSpec.fine_tune_learning_rate`,
    9.25e-5 for EfficientNet-Lite0), else `STAGE_LEARNING_RATES["fine_tune"]`
    (3e-5). For your own data, `find_learning_rate(model, train_ds).suggestion`
    measures one.

    Args:
        model: a model from `build_classifier` (any other model gets the general rate).
        stage: `"head"` or `"fine_tune"`. Defaults to `"fine_tune"`.

    Returns:
        The learning rate, a float.

    Example:
    >>> default_learning_rate(model, "fine_tune")
    3e-05
    """
    stage = _check_stage(stage)
    if stage == "fine_tune":
        try:
            measured = get_backbone_spec(backbone_name(model)).fine_tune_learning_rate
        except ValueError:
            measured = None  # not a model of this library: the general default
        if measured is not None:
            return measured
    return STAGE_LEARNING_RATES[stage]


def _check_stage(stage):
    aliases = {1: "head", 2: "fine_tune", "head": "head", "fine_tune": "fine_tune",
               "fine-tune": "fine_tune", "scratch": "head"}
    if not is_one_of(stage, aliases):
        raise ValueError(
            f"`stage` must be 'head' (stage 1) or 'fine_tune' (stage 2); received "
            f"{stage!r}."
        )
    return aliases[stage]


def _accuracy_metric(model):
    layer = layout.predictions_of(model)
    if layer.units == 1:
        threshold = 0.0 if layer.activation.__name__ == "linear" else 0.5
        return keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold)
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def _scope(model, strategy):
    """The scope to compile in: the given strategy, else the model's own."""
    return (strategy or model.distribute_strategy).scope()


def compile_for_stage(model, stage="head", learning_rate=None, optimizer=None,
                      metrics=None, strategy=None, steps_per_execution=1):
    """(Re)compiles a model for a training stage; call it after every `trainable` change.

    Args:
        model: a model with a `predictions` layer (from `build_classifier`).
        stage: `"head"` (stage 1, also used for training from scratch) or
            `"fine_tune"` (stage 2). Defaults to `"head"`.
        learning_rate: Adam learning rate. Defaults to `None`: 1e-3 for the head,
            for fine-tuning the backbone's own rate (`default_learning_rate`).
        optimizer: a Keras optimizer instead of Adam. Defaults to `None`.
        metrics: extra metrics besides accuracy. Defaults to `None`.
        strategy: the `tf.distribute` strategy the model was built with.
            Defaults to `None` (the model's own).
        steps_per_execution: training steps per compiled call; more cuts Python
            overhead for tiny models such as a head on cached features. Defaults to `1`.

    Returns:
        The model, freshly compiled.

    Example:
    >>> model = compile_for_stage(model, "fine_tune")
    """
    stage = _check_stage(stage)
    if learning_rate is None:
        learning_rate = default_learning_rate(model, stage)
    learning_rate = check_positive_number(learning_rate, "learning_rate")
    with _scope(model, strategy):
        model.compile(
            optimizer=optimizer or keras.optimizers.Adam(learning_rate),
            loss=loss_for(model),
            metrics=[_accuracy_metric(model)] + list(metrics or []),
            steps_per_execution=steps_per_execution,
        )
    return model


class _LayerRates:
    """Mixed into a Keras optimizer: each variable's step uses its own rate.

    `lr_factors` maps a variable's `path` (e.g. `"block1a_dwconv/depthwise_kernel"`)
    to a factor; the optimizer's learning rate (a number or a schedule, as set
    by warm-up or ReduceLROnPlateau) times the factor is that variable's rate.
    Variables not named keep factor 1; factor 0 leaves a variable unchanged.
    It scales the *step*, not the gradient: Adam divides the gradient by its
    own running scale, so scaled gradients would change nothing.
    """

    def __init__(self, *args, lr_factors=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_factors = {str(path): float(factor)
                           for path, factor in (lr_factors or {}).items()}

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._factors = [self.lr_factors.get(variable.path, 1.0) for variable in variables]

    def _factor(self, variable):
        return self._factors[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor(variable)
        if factor:
            super().update_step(gradient, variable, learning_rate * factor)

    def _apply_weight_decay(self, variables):
        base = self.weight_decay
        if base is None:
            return
        try:  # decoupled weight decay is `rate * weight_decay`: scale it the same way
            for factor in sorted({self._factor(variable) for variable in variables}):
                self.weight_decay = base * factor
                if factor:
                    super()._apply_weight_decay(
                        [variable for variable in variables if self._factor(variable) == factor])
        finally:
            self.weight_decay = base

    def get_config(self):
        return {**super().get_config(), "lr_factors": dict(self.lr_factors)}


_LAYER_RATE_CLASSES = {}


def _layer_rates_class(base):
    """`LayerRates<Base>`: `base` with per-variable rates, registered with Keras
    so that a saved model's optimizer loads back (`transfer_keras>LayerRatesAdam`)."""
    if base not in _LAYER_RATE_CLASSES:
        name = f"LayerRates{base.__name__}"
        cls = type(name, (_LayerRates, base), {
            "__doc__": f"`keras.optimizers.{base.__name__}` with a rate factor per variable "
                       f"(see `with_layer_rates`).",
            "__module__": __name__, "base_optimizer": base})
        _LAYER_RATE_CLASSES[base] = keras.saving.register_keras_serializable(
            package="transfer_keras", name=name)(cls)
    return _LAYER_RATE_CLASSES[base]


for _base in vars(keras.optimizers).values():  # the built-in optimizers, ready to load
    if (isinstance(_base, type) and issubclass(_base, keras.optimizers.Optimizer)
            and _base not in (keras.optimizers.Optimizer, keras.optimizers.LossScaleOptimizer)):
        _layer_rates_class(_base)


def with_layer_rates(optimizer, lr_factors):
    """Returns a copy of `optimizer` whose step for each variable is scaled by its factor.

    Works with plain `model.fit`, learning-rate schedules, warm-up and
    callbacks such as `ReduceLROnPlateau` (they set the base rate), mixed
    precision and `tf.distribute`; the model saves and loads with plain Keras.

    Args:
        optimizer: a Keras optimizer, e.g. `keras.optimizers.Adam(1e-3)`.
        lr_factors: dict variable path -> factor, e.g. from `group_rate_factors`.

    Returns:
        A new optimizer of class `LayerRates<Base>` with `optimizer`'s settings.

    Example:
    >>> factors = group_rate_factors(model, (0.1, 1.0))
    >>> model.compile(with_layer_rates(keras.optimizers.Adam(1e-3), factors), loss=...)
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer) or isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer):
        raise TypeError(f"`optimizer` must be a Keras optimizer such as "
                        f"keras.optimizers.Adam(1e-3); received {type(optimizer).__name__}.")
    base = getattr(type(optimizer), "base_optimizer", type(optimizer))
    config = {**optimizer.get_config(), "lr_factors": lr_factors}
    return _layer_rates_class(base).from_config(config)


def check_lr_factors(lr_factors, lr_decay, groups):
    """Returns the rate factor of each layer group, bottom to top (or None), from
    `lr_factors` or `lr_decay` over `groups` groups; raises ValueError on bad values."""
    if lr_factors is not None and lr_decay is not None:
        raise ValueError("Give `lr_factors` or `lr_decay`, not both; received both.")
    if lr_decay is not None:
        lr_decay = check_fraction(lr_decay, "lr_decay", "(0, 1]",
                                  hint="0.3 gives each group below a third of the rate.")
        return tuple(lr_decay ** (groups - 1 - index) for index in range(groups))
    if lr_factors is None:
        return None
    if (not isinstance(lr_factors, (list, tuple)) or len(lr_factors) < 2
            or not all(is_number(f) and 0 <= f for f in lr_factors)):
        raise ValueError(f"`lr_factors` must be a list of at least two numbers >= 0, one per "
                         f"layer group from the bottom of the backbone to the head, e.g. "
                         f"(0.01, 0.1, 1.0); received {lr_factors!r}.")
    return tuple(float(factor) for factor in lr_factors)


def group_rate_factors(model, lr_factors):
    """Maps every variable of `layer_groups(model, len(lr_factors))` to its group's factor.

    Example:
    >>> factors = group_rate_factors(model, (0.1, 1.0))  # backbone at a tenth, head at 1
    """
    factors = check_lr_factors(lr_factors, None, None)
    return {variable.path: factor
            for group, factor in zip(layout.layer_groups(model, len(factors)), factors)
            for layer in group.layers for variable in layer.weights if variable.trainable}


def check_checkpoint_path(checkpoint_path):
    """Returns `checkpoint_path` as a `Path` a model can be saved to, or raises ValueError.

    Called before any training, so a wrong path fails at once instead of after
    the first epoch. `None` (no checkpoint) passes through.
    """
    if checkpoint_path is None:
        return None
    path = Path(checkpoint_path).expanduser()
    if path.suffix != ".keras":
        raise ValueError(
            f"`checkpoint_path` must end in '.keras' (the best model is saved with "
            f"`save_model`, Keras's safe format); received {str(checkpoint_path)!r}. "
            f"Example: checkpoint_path='best.keras'."
        )
    if path.is_dir():
        raise ValueError(f"`checkpoint_path` {str(checkpoint_path)!r} is a folder; give a "
                         f"file name inside it, e.g. {str(path / 'best.keras')!r}.")
    existing = next(folder for folder in path.parents if folder.exists())
    if not existing.is_dir():
        raise ValueError(f"`checkpoint_path` {str(checkpoint_path)!r} is inside the file "
                         f"{str(existing)!r}; give a path in a folder.")
    return path


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the best model so far to `path`, atomically (temporary file + rename).

    Args:
        path: a `.keras` file path.
        monitor: the quantity to watch. Defaults to `"val_loss"`.
        model_to_save: the model written (when training a head alone, the full
            model). Defaults to `None` (the model being trained).
    """

    def __init__(self, path, monitor="val_loss", model_to_save=None):
        super().__init__()
        self.path = check_checkpoint_path(path)
        self.monitor = monitor
        self.model_to_save = model_to_save
        self.best = None  # kept across fits: one instance can watch both stages

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.best is None or (
            value < self.best if "loss" in self.monitor else value > self.best
        ):
            self.best = value
            save_model(self.model_to_save or self.model, self.path)


def _monitor(val_ds):
    return "val_loss" if val_ds is not None else "loss"


def _check_epochs(epochs, name="epochs", minimum=1, hint=""):
    return check_whole_number(epochs, name, minimum, what="a whole number of epochs",
                              hint=hint)


def _check_patience(patience):
    if patience is not None:
        _check_epochs(patience, "patience", 0, hint="Use 0 or None to turn early stopping off.")


def _check_training_run(model, train_ds, val_ds, epochs, patience):
    """The checks every training function makes before any work."""
    _check_training_data(model, train_ds, "train_ds")
    if val_ds is not None:
        _check_training_data(model, val_ds, "val_ds")
    _check_epochs(epochs)
    _check_patience(patience)


def _check_training_data(model, data, name):
    """`data` must be a batched dataset of (images of the model's input size,
    integer labels); checked from its `element_spec`."""
    if not isinstance(data, tf.data.Dataset):
        received = ("a tuple of arrays" if isinstance(data, (tuple, list))
                    else type(data).__name__)
        raise TypeError(f"`{name}` must be a batched tf.data.Dataset of (images, labels); "
                        f"received {received}. Make one with prepare((images, labels), "
                        f"image_size).")
    spec = data.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"`{name}` must yield (images, labels) batches; its elements are "
                         f"{spec}.")
    images, labels = spec
    try:
        expected = tuple(model.input_shape[1:])
    except (AttributeError, ValueError):  # a subclassed model declares no input shape
        expected = None
    if expected is not None and images.shape.rank is not None:
        if images.shape.rank != len(expected) + 1:
            raise ValueError(f"`{name}` must yield batches of images, shape (batch, "
                             f"{', '.join(map(str, expected))}); its images have shape "
                             f"{tuple(images.shape)}. Batch it ({name}.batch(32)), or use "
                             f"prepare({name}, image_size).")
        if any(want is not None and have is not None and want != have
               for want, have in zip(expected, images.shape[1:])):
            raise ValueError(f"`{name}` images are {tuple(images.shape[1:])} but the model "
                             f"takes {expected}. Resize them: prepare({name}, image_size="
                             f"{expected[:2]}).")
    if not labels.dtype.is_integer or not (
            labels.shape.rank == 1 or labels.shape.rank == 2 and labels.shape[-1] == 1):
        raise ValueError(f"`{name}` labels must be integer class indices, one per image; "
                         f"received {labels.dtype.name} labels of shape {tuple(labels.shape)}."
                         f" One-hot labels become indices with "
                         f"{name}.map(lambda x, y: (x, tf.argmax(y, axis=-1))).")


def _check_label_range(model, labels, name):
    num_classes = num_classes_of(model)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"`{name}` has labels from {labels.min()} to {labels.max()}, but the "
                         f"model predicts {num_classes} classes (labels 0 to "
                         f"{num_classes - 1}). Give build_classifier the number of classes, "
                         f"or renumber the labels.")


def _callbacks(val_ds, patience, checkpoint_path, callbacks, model_to_save):
    monitor = _monitor(val_ds)
    result = list(callbacks or [])
    if patience:
        result.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, restore_best_weights=True))
    if checkpoint_path is not None:
        result.append(AtomicCheckpoint(checkpoint_path, monitor, model_to_save))
    return result


class LinearWarmup(keras.callbacks.Callback):
    """Ramps the optimizer's learning rate linearly, per step, up to its target.

    Step 1 trains at `start_fraction * target`; the rate then rises by equal
    steps and reaches `target` after `warmup_epochs` epochs, where it stays.
    The number of steps per epoch is read from `fit` (the dataset's length);
    when it is unknown the rate rises once per epoch instead.

    Args:
        target: the learning rate to reach.
        warmup_epochs: epochs the ramp lasts. Defaults to `1`.
        start_fraction: the first step's rate as a fraction of `target`.
            Defaults to `0.1`.

    Attributes:
        rates: the rate set before every training step (for plots and tests).
    """

    def __init__(self, target, warmup_epochs=1,
                 start_fraction=WARMUP_START_FRACTION):
        super().__init__()
        self.target = float(target)
        self.warmup_epochs = warmup_epochs
        self.start_fraction = float(start_fraction)
        self.rates = []
        self._step = 0
        self._epochs_seen = 0

    def _ramp_length(self):
        """Steps (or, when the epoch length is unknown, epochs) the ramp lasts."""
        steps = (self.params or {}).get("steps")
        return (self.warmup_epochs * steps, True) if steps else (self.warmup_epochs, False)

    def _rate(self, position, length):
        if position >= length:
            return self.target
        share = position / length  # 0 at the first step, close to 1 at the last
        return self.target * (self.start_fraction + (1 - self.start_fraction) * share)

    def on_epoch_begin(self, epoch, logs=None):
        self._epochs_seen += 1

    def on_train_batch_begin(self, batch, logs=None):
        length, per_step = self._ramp_length()
        position = self._step if per_step else self._epochs_seen - 1
        rate = self._rate(position, length)
        self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)
        self._step += 1

    def on_train_end(self, logs=None):
        self.model.optimizer.learning_rate.assign(self.target)


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
    features, labels, _ = _extract(model, {"ds": ds})["ds"]
    return features, labels


def _extract(model, datasets, memory_limit=None, run=None):
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
    run = run or _traced_inference(model, features=True)
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


def _feature_dataset(features, labels, batch_size, shuffle):
    """Cached features (an array, or a `RecordFile` on disk) as batches for the head."""
    if isinstance(features, RecordFile):
        return features.dataset(np.arange(len(features)), labels, batch_size,
                                shuffle=shuffle).prefetch(2)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _cached_datasets(model, train_ds, val_ds, feature_cache, memory_limit=None, run=None,
                     val_batch_size=256):
    """Runs the frozen part once over `train_ds` and `val_ds` (`run`: a traced
    function of pixels; defaults to the pooled-feature extractor) and returns
    `(train, val, cached)`: its outputs as datasets, the training one reshuffled
    every epoch and batched like the original, and the arrays (or `RecordFile`s
    on disk, per `feature_cache` and `memory_limit`) behind them."""
    limit = {"memory": None, "disk": 0,
             "auto": FEATURE_MEMORY_LIMIT if memory_limit is None else memory_limit,
             }[feature_cache]
    extracted = _extract(model, {"train_ds": train_ds, "val_ds": val_ds}, limit, run)
    for name, (_, labels, _) in extracted.items():
        _check_label_range(model, labels, name)
    features, labels, batch_size = extracted["train_ds"]
    train = _feature_dataset(features, labels, batch_size, shuffle=True)
    val = None
    if val_ds is not None:
        features, labels, _ = extracted["val_ds"]
        val = _feature_dataset(features, labels, val_batch_size or batch_size, shuffle=False)
    return train, val, [features for features, _, _ in extracted.values()]


def _close(cached):
    """Removes the temporary files of cached outputs now, not at garbage collection."""
    for features in cached:
        if isinstance(features, RecordFile):
            features.close()


def _where(cached):
    """Where cached outputs live: "disk" if any went to a temporary file, else "memory"."""
    return "disk" if any(isinstance(features, RecordFile) for features in cached) else "memory"


def _build_head_model(model):
    """A model of the head alone, sharing its layers (and weights) with `model`."""
    pooling, *layers = layout.head_layers(model)
    width = pooling.output.shape[-1]
    return keras.Sequential([keras.Input((width,), name="features")] + layers,
                            name="head")


def _fit(model, train_ds, **fit_arguments):
    """`model.fit(train_ds, shuffle=False, ...)`, its optimizer and metrics built first.

    Building them first makes TensorFlow trace the training step once instead
    of twice (see `_keras_compat.build_before_fit`): seconds saved on every
    `fit` of a MobileNet on a CPU. The batches come in the dataset's own order.
    Under `MultiWorkerMirroredStrategy`, `multi_worker_fit` works around the
    two Keras bugs that otherwise stop `fit` there.
    """
    build_before_fit(model, train_ds)
    with multi_worker_fit(model):  # Keras 3 needs two fixes there
        return model.fit(train_ds, shuffle=False, **fit_arguments)


def _verbose(verbose):
    return 2 if verbose == "auto" else verbose  # one line per epoch, no progress bars


def train_head(model, train_ds, val_ds=None, epochs=DEFAULT_HEAD_EPOCHS, learning_rate=None,
               cache_features="auto", patience=5, checkpoint_path=None, callbacks=None,
               verbose="auto", strategy=None, feature_cache="auto", feature_memory_limit=None):
    """Stage 1: trains the new head on a frozen backbone.

    Args:
        model: a model from `build_classifier`.
        train_ds: batched dataset of (raw images, integer labels).
        val_ds: validation dataset, same form. Defaults to `None`.
        epochs: maximum epochs; early stopping usually ends it sooner. Defaults to `100`
            (epochs on cached features cost milliseconds).
        learning_rate: defaults to `None` (1e-3).
        cache_features: `True` to train on cached backbone features (fast),
            `False` to run the backbone every epoch, `"auto"` to cache unless the
            model has a random augmentation layer. Defaults to `"auto"`.
        patience: early-stopping patience in epochs on the validation loss (the
            best weights are restored); 0 or `None` to disable. Defaults to `5`
            (fine-tuning curves on small validation sets are noisy).
        checkpoint_path: a `.keras` path that receives the best full model,
            written atomically. Defaults to `None`.
        callbacks: extra Keras callbacks. Defaults to `None`.
        verbose: Keras verbosity; `"auto"` prints one line per epoch. Defaults to `"auto"`.
        strategy: a `tf.distribute` strategy. Defaults to `None`.
        feature_cache: where cached features live: `"memory"`, `"disk"` (an
            anonymous temporary file, read batch by batch: for sets whose
            features do not fit in memory) or `"auto"` (memory until they pass
            `feature_memory_limit`, then disk). Either way the backbone runs
            once. Defaults to `"auto"`.
        feature_memory_limit: bytes of features `"auto"` keeps in memory.
            Defaults to `None` (`FEATURE_MEMORY_LIMIT`, 2 GiB).

    Returns:
        The Keras `History` (same keys on both paths: loss, accuracy, val_...).
        Its `feature_cache` attribute says where the features were cached:
        `"memory"`, `"disk"`, or None (not cached: the backbone ran every epoch).

    Raises:
        ValueError: `cache_features=True` on a model with random augmentation;
            a bad `feature_cache`; a `checkpoint_path` that does not end in
            `.keras` or cannot be a file (checked before training).

    Example:
    >>> history = train_head(model, train_ds, val_ds, epochs=5, verbose=0)
    """
    _check_training_run(model, train_ds, val_ds, epochs, patience)
    check_checkpoint_path(checkpoint_path)
    if cache_features not in (True, False, "auto"):
        raise ValueError(
            f"`cache_features` must be True, False or 'auto'; received {cache_features!r}."
        )
    check_choice(feature_cache, "feature_cache", FEATURE_CACHES)
    augmented = has_random_augmentation(model)
    if cache_features is True and augmented:
        raise ValueError(
            "`cache_features=True` cannot be used with a model that has a random "
            "augmentation layer: the cached features would freeze one random draw. "
            "Use cache_features='auto' (trains the full model) or build the model "
            "without augmentation."
        )
    freeze_backbone(model)
    compile_for_stage(model, "head", learning_rate, strategy=strategy)
    if augmented or cache_features is False:
        history = _fit(model, train_ds, validation_data=val_ds, epochs=epochs,
                       callbacks=_callbacks(val_ds, patience, checkpoint_path, callbacks, None),
                       verbose=_verbose(verbose))
        history.feature_cache = None
        return history
    with _scope(model, strategy):
        head = _build_head_model(model)
    # A head is tiny: run many steps per call, or Python overhead dominates
    # (one under several replicas: Keras's multi-step loop fails there).
    replicas = (strategy or model.distribute_strategy).num_replicas_in_sync
    compile_for_stage(head, "head", learning_rate, strategy=strategy,
                      steps_per_execution=HEAD_STEPS_PER_EXECUTION if replicas == 1 else 1)
    train_cached, val_cached, cached = _cached_datasets(
        model, train_ds, val_ds, feature_cache, feature_memory_limit)
    try:
        history = _fit(head, train_cached, epochs=epochs, validation_data=val_cached,
                       callbacks=_callbacks(val_ds, patience, checkpoint_path, callbacks,
                                            model),
                       verbose=_verbose(verbose))
    finally:
        _close(cached)
    history.feature_cache = _where(cached)
    with _scope(model, strategy):  # the full model's optimizer never ran: build it, so
        model.optimizer.build(model.trainable_variables)  # save/load round-trips cleanly
    return history


def fine_tune(model, train_ds, val_ds=None, epochs=DEFAULT_FINE_TUNE_EPOCHS, num_layers=None,
              from_layer=None, fraction=None, learning_rate=None, patience=5, checkpoint_path=None,
              callbacks=None, initial_epoch=0, verbose="auto", strategy=None,
              augment=None, warmup_epochs=DEFAULT_WARMUP_EPOCHS, cache_prefix="auto",
              feature_cache="auto", lr_factors=None, lr_decay=None,
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
        cache_prefix: when only the top of the backbone is unfrozen, run the
            frozen bottom once over the data, cache its output, and train
            only the top on it (`features.frozen_prefix`): an epoch then costs
            what the unfrozen part costs, with the same result. `"auto"` does
            so unless the training images are augmented (augmentation acts on
            pixels, so the full model runs, and a verbose run says so);
            `False` never. Defaults to `"auto"`.
        feature_cache: where the cached prefix outputs live: `"memory"`,
            `"disk"` or `"auto"` (see `train_head`). Defaults to `"auto"`.
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
        The Keras `History` of this stage. Its `prefix_cache` attribute says
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
    _check_training_run(model, train_ds, val_ds, epochs, patience)
    warmup_epochs = _check_epochs(warmup_epochs, "warmup_epochs", 0, hint="Use 0 for no warm-up.")
    check_checkpoint_path(checkpoint_path)
    if cache_prefix not in (False, "auto"):
        raise ValueError(f"`cache_prefix` must be 'auto' or False; received {cache_prefix!r}.")
    check_choice(feature_cache, "feature_cache", FEATURE_CACHES)
    settings = _check_recipe(model, train_ds, learning_rate, lr_factors, lr_decay, groups,
                             gradual, schedule)
    if num_layers is None and from_layer is None and fraction is None:
        fraction = DEFAULT_FINE_TUNE_FRACTION
    region = first_unfrozen_layer(model, num_layers, from_layer, fraction)
    augmented = augment is not None or has_random_augmentation(model)
    if augment is not None:
        train_ds = augment_dataset(train_ds, augment)
    run = dict(epochs=epochs, patience=patience, checkpoint_path=checkpoint_path,
               callbacks=callbacks, verbose=verbose, strategy=strategy, augmented=augmented,
               warmup_epochs=warmup_epochs, cache_prefix=cache_prefix,
               feature_cache=feature_cache, **settings)
    if gradual:
        history = _gradual_unfreezing(model, train_ds, val_ds, region, initial_epoch, run)
    else:
        history = _fine_tune_step(model, train_ds, val_ds, region, initial_epoch, **run)
    with _scope(model, strategy):  # plain Keras from here on: see `plain_keras_optimizer`
        optimizer = plain_keras_optimizer(model.optimizer)
        if optimizer is not None:
            compile_for_stage(model, "fine_tune", settings["learning_rate"], optimizer,
                              strategy=strategy)
            model.optimizer.build(model.trainable_variables)
    return history


SCHEDULE_CHOICES = (None, "cosine", "one_cycle")


def _check_recipe(model, train_ds, learning_rate, lr_factors, lr_decay, groups, gradual,
                  schedule):
    """Checks the stage-2 recipe options before any work; returns them resolved."""
    if learning_rate is None:
        learning_rate = default_learning_rate(model, "fine_tune")
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
        rate = build_schedule(schedule, learning_rate, steps_per_epoch, epochs, warmup_epochs)
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
                    cache_prefix, feature_cache, learning_rate, factors, groups, schedule,
                    steps_per_epoch):
    """Unfreezes `backbone.layers[start:]` (BatchNorm aside), compiles and trains."""
    backbone = layout.backbone_of(model)
    unfreeze_backbone(model, num_layers=len(backbone.layers) - start)
    _freeze_zero_groups(model, factors)

    def optimizer():  # made in the strategy's scope, as its variables must be
        with _scope(model, strategy):
            return _stage_optimizer(model, learning_rate, factors, schedule, steps_per_epoch,
                                    epochs, warmup_epochs)

    compile_for_stage(model, "fine_tune", learning_rate, optimizer(), strategy=strategy)
    with _scope(model, strategy):  # the halves belong to the model's strategy too
        split = frozen_prefix(model) if cache_prefix == "auto" else None
    if split is not None and augmented:
        if _verbose(verbose):
            print("fine_tune: the training images are augmented, so the frozen bottom of "
                  "the backbone runs every epoch (its output cannot be cached).")
        split = None
    trained, cached = (model, []) if split is None else (split.top, None)
    if split is not None:
        compile_for_stage(trained, "fine_tune", learning_rate, optimizer(), strategy=strategy)
        pixels = (None,) + tuple(model.input_shape[1:])
        run = tf.function(lambda images: split.prefix(images, training=False),
                          input_signature=[tf.TensorSpec(pixels, tf.float32)])
        train_ds, val_ds, cached = _cached_datasets(model, train_ds, val_ds, feature_cache,
                                                    run=run, val_batch_size=None)
    warmup = []
    if warmup_epochs and schedule is None:
        warmup = [LinearWarmup(learning_rate, warmup_epochs)]
    try:
        history = _fit(trained, train_ds, validation_data=val_ds,
                       epochs=initial_epoch + epochs, initial_epoch=initial_epoch,
                       callbacks=warmup + _callbacks(val_ds, patience, checkpoint_path,
                                                     callbacks, model),
                       verbose=_verbose(verbose))
    finally:
        _close(cached)
    history.prefix_cache = history.cut_layer = None
    if split is not None:
        history.cut_layer, history.prefix_cache = split.cut_layer, _where(cached)
        with _scope(model, strategy):  # the full model's optimizer never ran: build it
            model.optimizer.build(model.trainable_variables)
    return history


def _gradual_unfreezing(model, train_ds, val_ds, region, initial_epoch, run):
    """Unfreezes the backbone's groups one by one from the top, each step a
    `_fine_tune_step`; stops (undoing the step) when a step does not beat the
    best validation loss so far. Returns one History of all steps."""
    backbone = layout.backbone_of(model)
    index = {id(layer): position for position, layer in enumerate(backbone.layers)}
    starts = [index[id(group.layers[0])] for group in layout.layer_groups(model, run["groups"])[:-1]]
    ends = starts[1:] + [len(backbone.layers)]
    steps = [max(start, region) for start, end in zip(starts, ends) if end > region]
    merged = keras.callbacks.History()
    merged.history, merged.epoch, merged.steps = {}, [], []
    best, best_weights, epoch = None, None, initial_epoch
    for start in reversed(steps):
        history = _fine_tune_step(model, train_ds, val_ds, start, epoch, **run)
        epoch += len(history.epoch)
        merged.epoch += list(history.epoch)
        for key, values in history.history.items():
            merged.history.setdefault(key, []).extend(values)
        step_best = _best_val_loss(history)
        step = {"from_layer": backbone.layers[start].name, "epochs": len(history.epoch),
                "best_val_loss": step_best, "kept": True}
        merged.steps.append(step)
        if len(merged.steps) == 1:
            merged.prefix_cache, merged.cut_layer = history.prefix_cache, history.cut_layer
        if step_best is None:
            continue
        if best is not None and not step_best < best:
            model.set_weights(best_weights)  # a deeper step that did not help: undo, stop
            step["kept"] = False
            break
        best, best_weights = step_best, model.get_weights()
    return merged


class TransferHistory:
    """The merged history of a two-stage run.

    Attributes:
        history: dict metric -> list of values, stage 1 then stage 2.
        epoch: epoch numbers (0-based) for every entry.
        fine_tune_epoch: index of the first stage-2 epoch (`None` if stage 2 did not run).
        seconds: wall-clock seconds per stage, `{"head": ..., "fine_tune": ...}`.
        feature_cache: where stage 1 cached the backbone's features: `"memory"`,
            `"disk"`, or None (not cached).
        kept_stage: whose weights the model holds at the end: `"fine_tune"`, or
            `"head"` when fine-tuning never beat stage 1's best validation loss
            (`None` without validation data).
    """

    def __init__(self, head_history, fine_tune_history=None, seconds=None,
                 kept_stage=None):
        self.kept_stage = kept_stage
        self.feature_cache = getattr(head_history, "feature_cache", None)
        self.history = {key: list(values) for key, values in head_history.history.items()}
        self.fine_tune_epoch = None
        if fine_tune_history is not None and fine_tune_history.history:
            self.fine_tune_epoch = len(next(iter(self.history.values()), []))
            for key, values in fine_tune_history.history.items():
                self.history.setdefault(key, []).extend(values)
        self.epoch = list(range(len(next(iter(self.history.values()), []))))
        self.seconds = dict(seconds or {})

    def __repr__(self):
        last = {key: round(values[-1], 4) for key, values in self.history.items() if values}
        return (f"TransferHistory({len(self.epoch)} epochs, fine-tuning from epoch "
                f"{self.fine_tune_epoch}, last: {last})")

    def to_dict(self):
        """Plain data for JSON reports."""
        return {"history": self.history, "fine_tune_epoch": self.fine_tune_epoch,
                "seconds": self.seconds, "kept_stage": self.kept_stage,
                "feature_cache": self.feature_cache}


def train_two_stage(model, train_ds, val_ds=None, head_epochs=DEFAULT_HEAD_EPOCHS,
                    fine_tune_epochs=DEFAULT_FINE_TUNE_EPOCHS,
                    head_learning_rate=None, fine_tune_learning_rate=None,
                    num_layers=None, from_layer=None, fraction=None,
                    cache_features="auto", patience=5, checkpoint_path=None,
                    verbose="auto", strategy=None, augment=None, after_head=None,
                    feature_cache="auto", warmup_epochs=DEFAULT_WARMUP_EPOCHS,
                    cache_prefix="auto", lr_factors=None, lr_decay=None,
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
        cache_features, patience, checkpoint_path, verbose, strategy: see `train_head`.
        augment: a random augmentation for the training batches of stage 2, e.g.
            `build_augmentation()` (see `fine_tune`). Stage 1 still trains the head
            on cached features of the original images, so it stays fast; with
            `cache_features=False`, stage 1 is augmented too. Defaults to `None`.
        after_head: a function called with the model when stage 1 is done (its
            best head restored), before fine-tuning; e.g. to score or save the
            frozen-backbone model. Defaults to `None`.
        feature_cache: where stage 1 caches features, and stage 2 its frozen
            prefix: `"memory"`, `"disk"` or `"auto"` (see `train_head`).
            Defaults to `"auto"`.
        warmup_epochs: the learning-rate warm-up at the start of fine-tuning
            (see `fine_tune`). Defaults to `0`.
        cache_prefix: when stage 2 unfreezes only the top of the backbone, train
            it on the cached output of the frozen bottom (see `fine_tune`).
            Defaults to `"auto"`.
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
    _check_epochs(head_epochs, "head_epochs")
    _check_epochs(fine_tune_epochs, "fine_tune_epochs", 0, hint="Use 0 to skip stage 2.")
    for rate, name in [(head_learning_rate, "head_learning_rate"),
                       (fine_tune_learning_rate, "fine_tune_learning_rate")]:
        if rate is not None:
            check_positive_number(rate, name)
    if cache_prefix not in (False, "auto"):
        raise ValueError(f"`cache_prefix` must be 'auto' or False; received {cache_prefix!r}.")
    if fine_tune_epochs:
        first_unfrozen_layer(model, num_layers, from_layer, fraction)
        _check_epochs(warmup_epochs, "warmup_epochs", 0, hint="Use 0 for no warm-up.")
        _check_recipe(model, train_ds, fine_tune_learning_rate, lr_factors, lr_decay, groups,
                      gradual, schedule)
    start = time.perf_counter()
    head_train_ds = train_ds
    if augment is not None and cache_features is False:
        head_train_ds = augment_dataset(train_ds, augment)
    # One checkpoint for both stages: it keeps the best score seen so far, so a
    # worse first fine-tuning epoch cannot overwrite stage 1's best model.
    checkpoint = (None if checkpoint_path is None else
                  [AtomicCheckpoint(checkpoint_path, _monitor(val_ds), model)])
    head_history = train_head(model, head_train_ds, val_ds, head_epochs,
                              head_learning_rate, cache_features, patience,
                              callbacks=checkpoint, verbose=verbose, strategy=strategy,
                              feature_cache=feature_cache)
    seconds = {"head": time.perf_counter() - start}
    if after_head is not None:
        after_head(model)
    if not fine_tune_epochs:
        return TransferHistory(head_history, None, seconds)
    start = time.perf_counter()
    head_best = _best_val_loss(head_history)
    head_weights = model.get_weights() if head_best is not None else None
    fine_tune_history = fine_tune(
        model, train_ds, val_ds, fine_tune_epochs, num_layers, from_layer, fraction,
        fine_tune_learning_rate, patience, callbacks=checkpoint,
        initial_epoch=len(head_history.epoch), verbose=verbose, strategy=strategy,
        augment=augment, warmup_epochs=warmup_epochs, cache_prefix=cache_prefix,
        feature_cache=feature_cache, lr_factors=lr_factors, lr_decay=lr_decay, groups=groups,
        gradual=gradual, schedule=schedule)
    kept_stage = None
    if head_best is not None:
        # Early stopping restored stage 2's best epoch; keep it only if it beats
        # stage 1's best, as the checkpoint does.
        kept_stage = "fine_tune"
        if not _best_val_loss(fine_tune_history) < head_best:
            model.set_weights(head_weights)
            kept_stage = "head"
    seconds["fine_tune"] = time.perf_counter() - start
    return TransferHistory(head_history, fine_tune_history, seconds, kept_stage)


def _best_val_loss(history):
    """The lowest validation loss of a Keras `History` (None without validation)."""
    values = history.history.get("val_loss")
    return min(values) if values else None


class LearningRateFinderResult:
    """What `find_learning_rate` measured: one loss per training step and a suggested rate.

    Attributes:
        rates: the learning rate of every step, increasing exponentially.
        losses: the training loss of every step (one batch each).
        smoothed_losses: `losses` smoothed by an exponential moving average
            (bias-corrected), which the suggestion and the divergence test use.
        suggestion: the suggested learning rate (see `find_learning_rate`).
        suggestion_rule: how the suggestion was chosen, in words.
        stage: `"head"` or `"fine_tune"`.
        stopped_early: True when the loss diverged before the last step.
    """

    def __init__(self, rates, losses, smoothed_losses, suggestion, suggestion_rule, stage,
                 stopped_early):
        self.rates, self.losses, self.smoothed_losses = rates, losses, smoothed_losses
        self.suggestion, self.suggestion_rule = suggestion, suggestion_rule
        self.stage, self.stopped_early = stage, stopped_early

    @property
    def min_loss_rate(self):
        """The rate at which the smoothed loss was lowest."""
        return self.rates[int(np.argmin(self.smoothed_losses))]

    def to_dict(self):
        """Plain data for JSON reports."""
        return {"rates": list(self.rates), "losses": list(self.losses),
                "smoothed_losses": list(self.smoothed_losses),
                "suggestion": self.suggestion, "suggestion_rule": self.suggestion_rule,
                "stage": self.stage, "stopped_early": self.stopped_early}

    def __repr__(self):
        ending = ", stopped early: the loss diverged" if self.stopped_early else ""
        return (f"LearningRateFinderResult({self.stage}: {len(self.rates)} steps from "
                f"{self.rates[0]:.1e} to {self.rates[-1]:.1e}{ending}; suggestion "
                f"{self.suggestion:.1e}, {self.suggestion_rule})")


def _smoothed(losses, beta):
    """Exponential moving average of `losses`, bias-corrected (as in fastai)."""
    average, result = 0.0, []
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        result.append(average / (1 - beta ** step))
    return result


FINDER_RISE = 1.25  # "the loss rose": 25% above its lowest smoothed value


def _suggest(rates, smoothed):
    """A tenth of the rate at which the smoothed loss first rose 25% above its minimum.

    Where the loss starts to climb is the edge of stable training (Smith, 2017,
    "Cyclical learning rates"); a rate ten times smaller keeps a safe margin.
    Unlike the minimum itself, that edge does not move much with the noise of
    single batches. If the loss never rose that far, the range stopped too
    early: the suggestion is then a tenth of the largest rate tried.
    """
    if not np.isfinite(smoothed).any():
        return rates[0], "no finite loss at all: the smallest rate tried"
    lowest = int(np.nanargmin(smoothed))
    risen = [step for step in range(lowest + 1, len(smoothed))
             if not smoothed[step] <= FINDER_RISE * smoothed[lowest]]  # NaN counts as risen
    if risen:
        return (max(rates[risen[0]] / 10, rates[0]),
                "a tenth of the rate where the smoothed loss first rose 25% above its minimum")
    return (max(rates[-1] / 10, rates[0]),
            "the loss never rose 25% above its minimum: a tenth of the largest rate tried "
            "(try a larger max_lr)")


def _finder_setup(model, train_ds, stage, num_layers, from_layer, fraction):
    """The model to step, its variables and the batches, for one stage of the range test."""
    if stage == "head":
        freeze_backbone(model)
        if not has_random_augmentation(model):
            features, labels, batch_size = _extract(model, {"train_ds": train_ds})["train_ds"]
            batches = (tf.data.Dataset.from_tensor_slices((features, labels))
                       .shuffle(len(labels)).batch(batch_size))
            return _build_head_model(model), batches
        return model, train_ds
    if num_layers is None and from_layer is None and fraction is None:
        fraction = DEFAULT_FINE_TUNE_FRACTION
    unfreeze_backbone(model, num_layers=num_layers, from_layer=from_layer, fraction=fraction)
    return model, train_ds


def _trainable_flags(model):
    """Every layer (nested ones too) with its `trainable` flag, to put them back later."""
    return [(layer, layer.trainable)
            for layer in model._flatten_layers(include_self=True, recursive=True)]


def find_learning_rate(model, train_ds, min_lr=1e-6, max_lr=1e-1, steps=60,
                       stage="fine_tune", num_layers=None, from_layer=None, fraction=None,
                       smoothing=0.9, diverge_factor=4.0):
    """The learning-rate range test: train briefly at ever larger rates and watch the loss.

    Starting at `min_lr`, the rate is multiplied by the same factor every step
    (one batch) so that step `steps` trains at `max_lr`. The loss first barely
    moves (too small a rate), then falls (a useful rate), then rises and
    explodes (too large). The test stops early once the smoothed loss exceeds
    `diverge_factor` times its lowest value (or is not finite).

    It has no side effect: a separate Adam optimizer does the steps, and the
    model's weights and `trainable` flags are put back afterwards (the model's
    own optimizer and its compiled state are never touched).

    The suggestion (`result.suggestion`) is a tenth of the rate at which the
    smoothed loss first rose 25% above its lowest value: where the loss starts
    to climb is the edge of stable training, and a tenth of it keeps a margin.
    (The rate of the lowest loss itself is noisy on small data: the loss of a
    few dozen single batches wobbles by more than the rate changes it.) If
    the loss never rose that far, it is a tenth of `max_lr`. Treat it as the middle of a range
    to try on validation data, not as the answer: one noisy run of a few dozen
    batches cannot rank rates that differ by less than about 3x.

    Args:
        model: a model from `build_classifier`.
        train_ds: a batched dataset of (raw images, integer labels); it is
            repeated if it has fewer than `steps` batches.
        min_lr: the first step's rate. Defaults to `1e-6`.
        max_lr: the last step's rate. Defaults to `1e-1`.
        steps: the number of steps (batches). Defaults to `60`.
        stage: `"fine_tune"` (the backbone unfrozen as `fine_tune` would, with
            `num_layers`, `from_layer` or `fraction`) or `"head"` (frozen
            backbone; on cached features unless the model has an augmentation
            layer). Defaults to `"fine_tune"`.
        num_layers, from_layer, fraction: what to unfreeze for
            `stage="fine_tune"` (see `fine_tune`). Defaults to `None` (all of it,
            BatchNorm frozen).
        smoothing: the weight of the past in the moving average of the loss,
            in [0, 1). Defaults to `0.9`.
        diverge_factor: stop when the smoothed loss exceeds this many times its
            lowest value. Defaults to `4.0`.

    Returns:
        A `LearningRateFinderResult` (plot it with `plots.plot_learning_rate_finder`).

    Raises:
        ValueError: a bad argument, naming it.

    Example:
    >>> result = find_learning_rate(model, train_ds, stage="fine_tune", steps=20)
    >>> result.rates[0] <= result.suggestion <= result.rates[-1]
    True
    """
    stage = _check_stage(stage)
    min_lr = check_positive_number(min_lr, "min_lr")
    max_lr = check_positive_number(max_lr, "max_lr")
    if not max_lr > min_lr:
        raise ValueError(f"`max_lr` must be larger than `min_lr`; received min_lr={min_lr!r}"
                         f" and max_lr={max_lr!r}.")
    steps = check_whole_number(steps, "steps", 3, what="a whole number of batches")
    smoothing = check_fraction(smoothing, "smoothing", "[0, 1)")
    if not check_positive_number(diverge_factor, "diverge_factor") > 1:
        raise ValueError(f"`diverge_factor` must be larger than 1; received "
                         f"{diverge_factor!r}.")
    weights, flags = model.get_weights(), _trainable_flags(model)
    try:
        stepped, batches = _finder_setup(model, train_ds, stage, num_layers, from_layer,
                                         fraction)
        rates, losses = _range_test(stepped, batches, min_lr, max_lr, steps, smoothing,
                                    diverge_factor)
    finally:
        for layer, trainable in flags:
            layer.trainable = trainable
        model.set_weights(weights)
    smoothed = _smoothed(losses, smoothing)
    suggestion, rule = _suggest(rates, smoothed)
    return LearningRateFinderResult(rates, losses, smoothed, float(suggestion), rule, stage,
                                    stopped_early=len(rates) < steps)


def _range_test(model, batches, min_lr, max_lr, steps, smoothing, diverge_factor):
    """Trains `model` one batch per rate; returns the rates and losses until divergence."""
    variables = model.trainable_variables
    optimizer = keras.optimizers.Adam(min_lr)
    optimizer.build(variables)
    loss_function = loss_for(model)
    images_spec, labels_spec = batches.element_spec[:2]

    # One trace for every batch: the batch size is left open (the last batch is smaller).
    @tf.function(input_signature=[tf.TensorSpec(images_spec.shape, tf.float32), labels_spec,
                                  tf.TensorSpec((), tf.float32)])
    def train_step(images, labels, rate):
        optimizer.learning_rate.assign(rate)
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    factor = (max_lr / min_lr) ** (1 / (steps - 1))
    rates, losses = [], []
    best, average = np.inf, 0.0
    for step, (images, labels) in enumerate(batches.repeat().take(steps)):
        rate = min_lr * factor ** step
        loss = float(train_step(tf.cast(images, tf.float32), labels,
                                tf.constant(rate, tf.float32)))
        rates.append(rate)
        losses.append(loss)
        average = smoothing * average + (1 - smoothing) * loss
        smoothed = average / (1 - smoothing ** (step + 1))
        if not np.isfinite(smoothed) or smoothed > diverge_factor * best:
            break
        best = min(best, smoothed)
    return rates, losses


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


def train_from_scratch(model, train_ds, val_ds=None, epochs=100, learning_rate=1e-3,
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
    _check_training_run(model, train_ds, val_ds, epochs, patience)
    if augment is not None:
        train_ds = augment_dataset(train_ds, augment)
    model.trainable = True
    compile_for_stage(model, "scratch", learning_rate, strategy=strategy)
    return _fit(model, train_ds, validation_data=val_ds, epochs=epochs,
                callbacks=_callbacks(val_ds, patience, None, callbacks, None),
                verbose=_verbose(verbose))


def _batchnorm_layers(model):
    """Every BatchNormalization layer of a model, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found += _batchnorm_layers(layer)
    return found


class BatchNormRecalibration(keras.callbacks.Callback):
    """Before each validation, sets BatchNorm's running statistics to those of the
    current weights, measured on up to `max_images` training images.

    A network trained from scratch changes fast; BatchNorm's running averages
    lag behind it, so in inference mode (validation, prediction) a model that
    is right on its training batches can predict one class only, and early
    stopping then watches a meaningless validation loss. Measuring the
    statistics again (one forward pass, no weight changes) fixes both.

    Args:
        train_ds: the batched training dataset (images, labels).
        max_images: training images to measure on. Defaults to `256`.
    """

    def __init__(self, train_ds, max_images=256):
        super().__init__()
        self.train_ds = train_ds
        self.max_images = max_images

    def on_test_begin(self, logs=None):
        batches, count = [], 0
        for images, _ in self.train_ds:
            batches.append(tf.cast(images, tf.float32))
            count += int(images.shape[0])
            if count >= self.max_images:
                break
        layers = _batchnorm_layers(self.model)
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.momentum = 0.0  # the running statistics become this batch's
        try:
            self.model(tf.concat(batches, 0)[:self.max_images], training=True)
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum


def set_seed(seed, deterministic=True):
    """Makes a run repeatable: seeds Python, NumPy and TensorFlow, and (by default)
    turns on TensorFlow's op determinism, so the same seed gives the same numbers.

    Op determinism stays on for the rest of the process (TensorFlow cannot turn
    it off); on a CPU it costs little.

    Args:
        seed: a whole number.
        deterministic: also call `tf.config.experimental.enable_op_determinism()`.
            Defaults to `True`.

    Example:
    >>> set_seed(0)
    """
    keras.utils.set_random_seed(check_seed(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def pretrain_source(backbone, source_train, source_val=None, num_classes=None,
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
    model = build_scratch_classifier(backbone, num_classes, input_shape,
                                     strategy=strategy, **backbone_kwargs)
    compile_for_stage(model, "head", learning_rate, strategy=strategy)
    start = time.perf_counter()
    history = _fit(model, source_train, validation_data=source_val, epochs=epochs,
                   callbacks=_callbacks(source_val, patience, None, None, None),
                   verbose=_verbose(verbose))
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
