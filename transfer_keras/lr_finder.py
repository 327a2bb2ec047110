"""The learning-rate range test, as a callback on a normal `fit` (as fastai's LRFinder).

`LearningRateFinder` raises the optimizer's rate exponentially, one batch at a
time, records each batch's loss and stops the `fit` once the loss diverges.
`find_learning_rate` runs it on a model for either stage and puts the model
back as it found it; its suggestion comes from a small named rule
(`suggest_steepest_rise`), applied to the smoothed losses (`smoothed`).

>>> result = find_learning_rate(model, train_ds, stage="fine_tune", steps=20)
>>> figure = plot_learning_rate_finder(result)  # from transfer_keras.plots
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import _keras_compat
from transfer_keras._checks import check_fraction, check_positive_number, check_whole_number
from transfer_keras.features import build_head_model, extract_outputs, has_random_augmentation
from transfer_keras.freezing import freeze_backbone, unfreeze_backbone
from transfer_keras.stages import DEFAULT_FINE_TUNE_FRACTION, check_stage, loss_for

FINDER_RISE = 1.25  # "the loss rose": 25% above its lowest smoothed value


@dataclasses.dataclass(frozen=True)
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

    rates: list
    losses: list
    smoothed_losses: list
    suggestion: float
    suggestion_rule: str
    stage: str
    stopped_early: bool

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


def smoothed(losses, beta):
    """Exponential moving average of `losses`, bias-corrected (as in fastai)."""
    average, result = 0.0, []
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        result.append(average / (1 - beta ** step))
    return result


def suggest_steepest_rise(rates, smoothed):
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


class LearningRateFinder(keras.callbacks.Callback):
    """Trains one batch per step at exponentially growing rates and records the losses.

    Use it with `fit(..., epochs=steps, steps_per_epoch=1)` on a repeated
    dataset: every epoch is then one batch, so the loss Keras reports for the
    epoch is that batch's own. The `fit` stops early when the smoothed loss
    exceeds `diverge_factor` times its lowest value (or is not finite).

    Args:
        min_lr: the first step's rate.
        max_lr: the rate of step `steps`.
        steps: the number of steps.
        smoothing: the weight of the past in the loss's moving average. Defaults to `0.9`.
        diverge_factor: stop when the smoothed loss passes this many times its
            lowest value. Defaults to `4.0`.

    Attributes:
        rates, losses: the rate and loss of every step taken.

    Example:
    >>> finder = LearningRateFinder(1e-6, 1e-1, steps=30)
    >>> _ = model.fit(train_ds.repeat(), epochs=30, steps_per_epoch=1, callbacks=[finder],
    ...               verbose=0)
    """

    def __init__(self, min_lr, max_lr, steps, *, smoothing=0.9, diverge_factor=4.0):
        super().__init__()
        self.min_lr, self.steps = min_lr, steps
        self.factor = (max_lr / min_lr) ** (1 / (steps - 1))
        self.smoothing, self.diverge_factor = smoothing, diverge_factor
        self.rates, self.losses = [], []
        self._average, self._lowest = 0.0, np.inf  # the moving average, as `smoothed` makes it

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.min_lr * self.factor ** len(self.rates)
        self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(float(logs["loss"]))
        self._average = self.smoothing * self._average + (1 - self.smoothing) * self.losses[-1]
        current = self._average / (1 - self.smoothing ** len(self.losses))
        if not np.isfinite(current) or current > self.diverge_factor * self._lowest:
            self.model.stop_training = True
        self._lowest = min(self._lowest, current)


def _stepped_model(model, train_ds, stage, num_layers, from_layer, fraction):
    """The model the range test trains, sharing its weights with `model`, and its batches.

    A new Keras model over the same layers, so `model`'s own optimizer and
    compiled state are never touched: the head alone on cached features for
    `"head"` (unless the model augments), else the whole model with the
    backbone unfrozen as `fine_tune` would.
    """
    if stage == "head":
        freeze_backbone(model)
        if not has_random_augmentation(model):
            features, labels, batch_size = extract_outputs(model,
                                                           {"train_ds": train_ds})["train_ds"]
            batches = (tf.data.Dataset.from_tensor_slices((features, labels))
                       .shuffle(len(labels)).batch(batch_size))
            return build_head_model(model), batches
    else:
        if num_layers is None and from_layer is None and fraction is None:
            fraction = DEFAULT_FINE_TUNE_FRACTION
        unfreeze_backbone(model, num_layers=num_layers, from_layer=from_layer, fraction=fraction)
    return keras.Model(model.inputs, model.outputs, name=f"{model.name}_range_test"), train_ds


def find_learning_rate(model, train_ds, *, min_lr=1e-6, max_lr=1e-1, steps=60,
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
    stage = check_stage(stage)
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
    weights = model.get_weights()
    flags = [(layer, layer.trainable) for layer in _keras_compat.all_layers(model)]
    finder = LearningRateFinder(min_lr, max_lr, steps, smoothing=smoothing,
                                diverge_factor=diverge_factor)
    try:
        stepped, batches = _stepped_model(model, train_ds, stage, num_layers, from_layer,
                                          fraction)
        stepped.compile(optimizer=keras.optimizers.Adam(min_lr), loss=loss_for(stepped))
        stepped.fit(batches.repeat(), epochs=steps, steps_per_epoch=1, callbacks=[finder],
                    shuffle=False, verbose=0)
    finally:
        for layer, trainable in flags:
            layer.trainable = trainable
        model.set_weights(weights)
    trace = smoothed(finder.losses, smoothing)
    suggestion, rule = suggest_steepest_rise(finder.rates, trace)
    return LearningRateFinderResult(finder.rates, finder.losses, trace, float(suggestion), rule,
                                    stage, stopped_early=len(finder.rates) < steps)
