"""Learning-rate schedules for fine-tuning: warm-up then cosine decay, and one-cycle.

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

import math

import keras
from keras import ops

from transfer_keras._checks import check_fraction, check_positive_number, check_whole_number


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


def build_schedule(name, peak, steps_per_epoch, epochs, warmup_epochs=0):
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
