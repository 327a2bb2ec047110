"""Callbacks and schedules: warm-up, cosine and one-cycle schedules, the atomic
best-of-both-stages checkpoint, early stopping, BatchNorm recalibration, and the
histories training returns.

The schedules:

Both are `keras.optimizers.schedules.LearningRateSchedule`s: give one to any
optimizer as its `learning_rate`, train with a plain `model.fit`, and the
schedule is saved with the model (`model.save`) and comes back with
`keras.models.load_model` (the classes register themselves with Keras when
`transfer_keras` is imported).

    rate
    peak |      .--.__                    .--.
         |     /      ``--.__            /    `.
         |    /             ``-.        /       `.
    start|   /                  `-.   /          `-.__
         +---------------------------  --------------------
           warm-up    cosine decay       one-cycle: up, then down below the start

>>> schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
>>> [round(float(schedule(step)), 6) for step in (0, 10, 55, 100)]
[0.0001, 0.001, 0.0005, 0.0]
"""

import dataclasses
import math
from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from transfer_keras._checks import check_fraction, check_positive_number, check_whole_number
from transfer_keras.saving import save_model

# Fine-tuning starts with a linear warm-up: the rate climbs per step from
# WARMUP_START_FRACTION of the target to the target over the first epoch, so
# the first large gradients of a just-unfrozen backbone cannot wreck it.
# Off by default for now: the default recipe's published figures (demo, README,
# benchmarks/showcase.py) were measured without it; it becomes the default once
# that benchmark has measured the recipe with it. Notebook 03 teaches it.
DEFAULT_WARMUP_EPOCHS = 0
WARMUP_START_FRACTION = 0.1


def _check_steps(total_steps, warmup_steps):
    total_steps = check_whole_number(total_steps, "total_steps", 1,
                                     what="a whole number of training steps")
    check_whole_number(warmup_steps, "warmup_steps", 0, total_steps - 1,
                       what="a whole number of steps",
                       hint=f"It must be below total_steps={total_steps}.")
    return total_steps


@keras.saving.register_keras_serializable(package="transfer_keras")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up to `peak`, then a cosine decay to `final_fraction * peak`.

    Step 0 trains at `start_fraction * peak`; the rate climbs in equal steps to
    `peak` at `warmup_steps`, then follows half a cosine down to the final
    rate at `total_steps`, where it stays.

    Args:
        peak: the highest learning rate.
        total_steps: training steps in all (epochs times batches per epoch).
        warmup_steps: steps of the linear climb; 0 starts at the peak.
            Defaults to `0`.
        start_fraction: the first step's rate as a fraction of `peak`.
            Defaults to `0.1`.
        final_fraction: the last rate as a fraction of `peak`. Defaults to `0.0`.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, start_fraction=0.1,
                 final_fraction=0.0):
        self.peak = check_positive_number(peak, "peak")
        self.total_steps = _check_steps(total_steps, warmup_steps)
        self.warmup_steps = int(warmup_steps)
        self.start_fraction = check_fraction(start_fraction, "start_fraction", "[0, 1]")
        self.final_fraction = check_fraction(final_fraction, "final_fraction", "[0, 1]")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = max(self.warmup_steps, 1)
        climbing = self.peak * (self.start_fraction
                                + (1 - self.start_fraction) * step / warmup)
        progress = ops.clip((step - self.warmup_steps)
                            / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        final = self.final_fraction * self.peak
        decaying = final + (self.peak - final) * 0.5 * (1 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, climbing, decaying)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "start_fraction": self.start_fraction,
                "final_fraction": self.final_fraction}


@keras.saving.register_keras_serializable(package="transfer_keras")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle policy (Smith, 2018; fastai's `fit_one_cycle`).

    The rate climbs along half a cosine from `peak / start_divisor` to `peak`
    over the first `warmup_fraction` of the steps, then falls along half a
    cosine to `peak / final_divisor` at `total_steps`, where it stays.

    Args:
        peak: the highest learning rate.
        total_steps: training steps in all (epochs times batches per epoch).
        warmup_fraction: the share of the steps spent climbing. Defaults to `0.25`.
        start_divisor: the first rate is `peak / start_divisor`. Defaults to `25`.
        final_divisor: the last rate is `peak / final_divisor`. Defaults to `1e4`.
    """

    def __init__(self, peak, total_steps, warmup_fraction=0.25, start_divisor=25.0,
                 final_divisor=1e4):
        self.peak = check_positive_number(peak, "peak")
        self.total_steps = _check_steps(total_steps, 0)
        self.warmup_fraction = check_fraction(warmup_fraction, "warmup_fraction", "(0, 1)")
        self.start_divisor = check_positive_number(start_divisor, "start_divisor")
        self.final_divisor = check_positive_number(final_divisor, "final_divisor")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        turn = max(self.warmup_fraction * self.total_steps, 1.0)
        start, final = self.peak / self.start_divisor, self.peak / self.final_divisor

        def cosine(high, low, progress):  # high at progress 0, low at 1
            progress = ops.clip(progress, 0.0, 1.0)
            return low + (high - low) * 0.5 * (1 + ops.cos(math.pi * progress))

        climbing = cosine(start, self.peak, step / turn)
        falling = cosine(self.peak, final, (step - turn) / max(self.total_steps - turn, 1.0))
        return ops.where(step < turn, climbing, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_fraction": self.warmup_fraction,
                "start_divisor": self.start_divisor, "final_divisor": self.final_divisor}


SCHEDULES = {"cosine": WarmupCosine, "one_cycle": OneCycle}


def build_schedule(name, peak, steps_per_epoch, epochs, *, warmup_epochs=0):
    """The schedule a training stage asks for by name, sized to its steps.

    Args:
        name: `"cosine"` (warm-up over `warmup_epochs`, then cosine decay) or
            `"one_cycle"`.
        peak: the highest learning rate.
        steps_per_epoch: batches per epoch.
        epochs: the stage's epoch budget (early stopping may end it sooner).
        warmup_epochs: the warm-up of `"cosine"`. Defaults to `0`.

    Returns:
        A `WarmupCosine` or `OneCycle`.
    """
    total = steps_per_epoch * epochs
    if name == "cosine":
        return WarmupCosine(peak, total, min(warmup_epochs * steps_per_epoch, total - 1))
    return OneCycle(peak, total)


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


def monitor_for(val_ds):
    return "val_loss" if val_ds is not None else "loss"


def training_callbacks(val_ds, patience, checkpoint_path, callbacks, model_to_save):
    monitor = monitor_for(val_ds)
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


@dataclasses.dataclass(frozen=True)
class StageHistory:
    """What one training stage returns: Keras's per-epoch metrics, and how the stage ran.

    Attributes:
        history: dict metric -> one value per epoch (as in Keras's `History.history`).
        epoch: the epoch numbers.
        feature_cache: stage 1: where the backbone's features were cached,
            `"memory"` or `"disk"`; None when the backbone ran every epoch.
        prefix_cache: stage 2: where the frozen prefix's outputs were cached
            (`"memory"`, `"disk"`); None when the full model ran.
        cut_layer: stage 2: the backbone layer whose outputs were cached, or None.
        steps: gradual unfreezing: one dict per step (`from_layer`, `epochs`,
            `best_val_loss`, `kept`); empty otherwise.

    Example:
    >>> history = train_head(model, train_ds, val_ds, epochs=5, verbose=0)
    >>> history.feature_cache, len(history.history["loss"]) == len(history.epoch)
    ('memory', True)
    """

    history: dict
    epoch: list
    feature_cache: str | None = None
    prefix_cache: str | None = None
    cut_layer: str | None = None
    steps: tuple = ()

    @classmethod
    def from_keras(cls, keras_history, **facts):
        """A `StageHistory` of a Keras `History` (its metrics copied), with `facts`."""
        return cls(history={key: list(values) for key, values in keras_history.history.items()},
                   epoch=list(keras_history.epoch), **facts)


@dataclasses.dataclass(frozen=True)
class TransferHistory:
    """The merged history of a two-stage run (`TransferHistory.from_stages`).

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

    Example:
    >>> head = train_head(model, train_ds, val_ds, epochs=2, verbose=0)
    >>> tuned = fine_tune(model, train_ds, val_ds, epochs=1, verbose=0)
    >>> merged = TransferHistory.from_stages(head, tuned)
    >>> merged.fine_tune_epoch == len(head.epoch)
    True
    """

    history: dict
    epoch: list
    fine_tune_epoch: int | None = None
    seconds: dict = dataclasses.field(default_factory=dict)
    feature_cache: str | None = None
    kept_stage: str | None = None

    @classmethod
    def from_stages(cls, head_history, fine_tune_history=None, *, seconds=None,
                    kept_stage=None):
        """Merges stage 1's history (a `StageHistory` or Keras `History`) with stage 2's.

        Args:
            head_history: the history of stage 1 (or of training from scratch).
            fine_tune_history: the history of stage 2. Defaults to `None`.
            seconds: wall-clock seconds per stage. Defaults to `None` (none recorded).
            kept_stage: `"head"` or `"fine_tune"`, see the class. Defaults to `None`.

        Returns:
            A `TransferHistory`.
        """
        history = {key: list(values) for key, values in head_history.history.items()}
        fine_tune_epoch = None
        if fine_tune_history is not None and fine_tune_history.history:
            fine_tune_epoch = len(next(iter(history.values()), []))
            for key, values in fine_tune_history.history.items():
                history.setdefault(key, []).extend(values)
        return cls(history=history, epoch=list(range(len(next(iter(history.values()), [])))),
                   fine_tune_epoch=fine_tune_epoch, seconds=dict(seconds or {}),
                   feature_cache=getattr(head_history, "feature_cache", None),
                   kept_stage=kept_stage)

    def __repr__(self):
        last = {key: round(values[-1], 4) for key, values in self.history.items() if values}
        return (f"TransferHistory({len(self.epoch)} epochs, fine-tuning from epoch "
                f"{self.fine_tune_epoch}, last: {last})")

    def to_dict(self):
        """Plain data for JSON reports."""
        return {"history": self.history, "fine_tune_epoch": self.fine_tune_epoch,
                "seconds": self.seconds, "kept_stage": self.kept_stage,
                "feature_cache": self.feature_cache}


def best_val_loss(history):
    """The lowest validation loss of a Keras `History` (None without validation)."""
    values = history.history.get("val_loss")
    return min(values) if values else None


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
