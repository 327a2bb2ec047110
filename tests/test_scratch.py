"""Training from scratch (`transfer_keras.scratch`): small batches, patience, BatchNorm
measured again; tiny shapes and random weights, so it runs in seconds."""

import numpy as np
import pytest
import tensorflow as tf

import transfer_keras as tk
from transfer_keras import scratch
from transfer_keras.callbacks import BatchNormRecalibration


def _tiny_ds(num_images=16, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_images, 32, 32, 3)).astype("float32")
    labels = np.arange(num_images) % 2
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


def _model():
    return tk.build_scratch_classifier("mobilenet", 2, input_shape=(32, 32, 3), alpha=0.25)


def test_fit_from_scratch_trains_one_stage_and_times_it():
    history = scratch.fit_from_scratch(_model(), _tiny_ds(), _tiny_ds(8, seed=1),
                                       num_images=16, epochs=2, batch_size=8, verbose=0)
    assert list(history.seconds) == ["scratch"] and history.seconds["scratch"] > 0
    assert history.fine_tune_epoch is None
    assert 1 <= len(history.epoch) <= 2 and "val_loss" in history.history


def test_small_training_sets_get_smaller_batches_and_say_so(monkeypatch, capsys):
    calls = []

    class History:  # stands for Keras's History
        history = {"loss": [1.0]}

    def record(model, train_ds, val_ds=None, **kwargs):
        calls.append((train_ds, val_ds, kwargs))
        return History()

    monkeypatch.setattr(scratch, "train_from_scratch", record)
    scratch.fit_from_scratch(_model(), _tiny_ds(), num_images=16, epochs=3, batch_size=8,
                             verbose=2)
    [(train_ds, val_ds, kwargs)] = calls
    assert [int(images.shape[0]) for images, _ in train_ds] == [2] * 8  # 8 steps of 2
    assert val_ds is None and kwargs["epochs"] == 3
    assert kwargs["patience"] == scratch.SCRATCH_PATIENCE == 10
    [recalibration] = kwargs["callbacks"]
    assert isinstance(recalibration, BatchNormRecalibration)
    assert recalibration.train_ds is train_ds  # measured on the batches it trains on
    assert "Batches of 2 instead of 8: 16 training images give 8 steps" in \
        capsys.readouterr().out

    calls.clear()
    scratch.fit_from_scratch(_model(), _tiny_ds(), num_images=16, epochs=3, batch_size=8,
                             verbose=0)
    assert capsys.readouterr().out == ""  # verbose=0: silent

    calls.clear()
    scratch.fit_from_scratch(_model(), _tiny_ds(64), num_images=64, epochs=1, batch_size=8,
                             verbose=2)
    assert [int(images.shape[0]) for images, _ in calls[0][0]] == [8] * 8  # enough steps
    assert "Batches of" not in capsys.readouterr().out


@pytest.mark.parametrize("argument", ["num_images", "batch_size", "min_steps"])
def test_counts_below_one_are_refused_naming_the_argument(argument):
    counts = {"num_images": 16, "batch_size": 8, "min_steps": 8, argument: 0}
    with pytest.raises(ValueError, match=f"`{argument}`") as error:
        scratch.fit_from_scratch(_model(), _tiny_ds(), epochs=1, **counts)
    assert error.value.argument == argument
