"""Training recipes: stages, feature caching, checkpoints, save/load, scale."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import transfer_keras as tk
from transfer_keras import callbacks, lr_finder, stages, training
from transfer_keras import features as tk_features
from transfer_keras.models import backbone_name

to_numpy = keras.ops.convert_to_numpy


def _toy_data(n=48, size=32, seed=0):
    """Bright vs dark images: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.uniform(0, 120, (n, size, size, 3)) + labels[:, None, None, None] * 120
    return images.astype("float32"), labels.astype("int32")


def _dataset(n=48, batch_size=16, seed=0):
    images, labels = _toy_data(n, seed=seed)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


SOURCE = tk.project_source_backbone()


def _model(**kwargs):
    """The project's source backbone: random MobileNet features are all ~0."""
    return tk.build_classifier(SOURCE.backbone, 2, input_shape=(32, 32, 3), weights=SOURCE.weights,
                               **SOURCE.kwargs, **kwargs)


def test_the_fine_tuning_rate_is_the_backbones_own_where_one_was_measured():
    lite = tk.build_classifier("efficientnet_lite0", 2, input_shape=(32, 32, 3), weights=None)
    assert tk.default_learning_rate(lite) == pytest.approx(9.25e-5)
    assert tk.default_learning_rate(lite, stage="head") == pytest.approx(1e-3)
    assert tk.default_learning_rate(_model()) == pytest.approx(3e-5)  # MobileNet: no own rate
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="plain")
    assert tk.default_learning_rate(plain) == pytest.approx(3e-5)  # not ours: the general rate
    tk.compile_for_stage(lite, stage="fine_tune")
    assert float(lite.optimizer.learning_rate) == pytest.approx(9.25e-5)
    with pytest.raises(ValueError, match="`stage`"):
        tk.default_learning_rate(lite, stage="stage3")


def test_compile_for_stage_always_recompiles_with_stage_rates():
    model = _model()
    tk.compile_for_stage(model, stage="head")
    first = model.optimizer
    assert float(first.learning_rate) == pytest.approx(1e-3)
    tk.compile_for_stage(model, stage="fine_tune")
    assert model.optimizer is not first
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-5)  # MobileNet: general
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    with pytest.raises(ValueError, match="`stage`"):
        tk.compile_for_stage(model, stage="stage3")
    with pytest.raises(ValueError, match="`learning_rate`"):
        tk.compile_for_stage(model, stage="head", learning_rate=-1)


def test_loss_matches_head_convention():
    sigmoid = tk.build_classifier("mobilenet", 1, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    assert isinstance(stages.loss_for(sigmoid), keras.losses.BinaryCrossentropy)
    logits = _model(classifier_activation=None)
    assert stages.loss_for(logits).get_config()["from_logits"] is True


def test_cached_and_naive_heads_predict_the_same_with_the_same_weights():
    ds = _dataset()
    model = _model(hidden_units=(8,))
    head = tk_features.build_head_model(model)
    features, labels = tk.extract_features(model, ds)
    images = np.concatenate([x for x, _ in ds.as_numpy_iterator()])
    full = model.predict(images, verbose=0)
    cached = head.predict(features, verbose=0)
    np.testing.assert_allclose(full, cached, rtol=1e-5, atol=1e-6)
    # The head shares its layers with the model: weights are one and the same.
    new_kernel = np.ones_like(to_numpy(model.get_layer("predictions").kernel))
    head.get_layer("predictions").kernel.assign(new_kernel)
    np.testing.assert_array_equal(to_numpy(model.get_layer("predictions").kernel),
                                  new_kernel)


def test_extract_features_keeps_pairs_on_reshuffled_uint8_uneven_batches():
    images, labels = _toy_data(n=37)
    model = _model()
    extractor = tk_features.build_feature_extractor(model)
    reference = extractor.predict(images.astype("uint8").astype("float32"), verbose=0)
    # Reshuffled on every pass, uint8 pixels, a last batch of 5: still paired.
    index = np.arange(len(labels))
    ds = (tf.data.Dataset.from_tensor_slices((images.astype("uint8"), index))
          .shuffle(37, seed=1, reshuffle_each_iteration=True).batch(8))
    features, order = tk.extract_features(model, ds)
    assert features.shape == (37, reference.shape[-1])
    assert sorted(order) == list(index) and list(order) != list(index)
    np.testing.assert_allclose(features, reference[order], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="`ds` is empty"):
        tk.extract_features(model, ds.take(0))
    with pytest.raises(ValueError, match="`val_ds` is empty"):
        tk.train_head(model, ds, ds.take(0), epochs=1, verbose=0)


def test_train_head_cached_path_trains_only_the_head():
    ds = _dataset()
    model = _model()
    backbone_before = [to_numpy(w) for w in model.get_layer("backbone").weights]
    head_before = to_numpy(model.get_layer("predictions").kernel)
    history = tk.train_head(model, ds, ds, epochs=3, verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    for before, after in zip(backbone_before, model.get_layer("backbone").weights):
        np.testing.assert_array_equal(before, to_numpy(after))
    assert not np.array_equal(head_before, to_numpy(model.get_layer("predictions").kernel))
    # The full model carries the trained head: its accuracy is what the head reached.
    loss, accuracy = model.evaluate(ds, verbose=0)
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=1e-3)


def test_cached_and_naive_stage_one_learn_the_same_task():
    ds = _dataset(64)
    accuracies = {}
    for cache in ("memory", None):
        keras.utils.set_random_seed(1)
        model = _model(dropout=0.0)
        history = tk.train_head(model, ds, epochs=15, feature_cache=cache, learning_rate=1e-2,
                                patience=0, verbose=0)
        assert history.feature_cache == cache
        accuracies[cache] = model.evaluate(ds, verbose=0)[1]
    assert accuracies["memory"] > 0.75 and accuracies[None] > 0.75, accuracies
    assert abs(accuracies["memory"] - accuracies[None]) <= 0.1, accuracies


def test_augmentation_falls_back_to_full_model_and_forcing_cache_fails():
    ds = _dataset()
    model = _model(augmentation=tk.build_augmentation(seed=0))
    assert tk_features.has_random_augmentation(model)
    with pytest.raises(ValueError, match="augmentation"):
        tk.train_head(model, ds, epochs=1, feature_cache="memory", verbose=0)
    history = tk.train_head(model, ds, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1 and history.feature_cache is None


def test_the_callers_augmentation_layer_keeps_its_name(tmp_path):
    flip = keras.layers.RandomFlip("horizontal", seed=0, name="my_flip")
    model = _model(augmentation=flip)
    assert flip.name == "my_flip"  # wrapped, not renamed
    assert model.get_layer("augmentation").layers == [flip]
    assert tk_features.has_random_augmentation(model)
    with pytest.raises(ValueError, match="augmentation"):
        tk.train_head(model, _dataset(), epochs=1, feature_cache="disk", verbose=0)
    tk.save_model(model, tmp_path / "flip.keras")
    loaded = tk.load_model(tmp_path / "flip.keras")
    assert tk_features.has_random_augmentation(loaded)
    assert [layer.name for layer in loaded.get_layer("augmentation").layers] == ["my_flip"]
    augmentation = tk.build_augmentation(seed=0)  # already named "augmentation": used as is
    assert _model(augmentation=augmentation).get_layer("augmentation") is augmentation


def test_fine_tune_changes_top_kernels_only_and_keeps_batchnorm_stats():
    ds = _dataset()
    model = _model()
    tk.train_head(model, ds, epochs=1, verbose=0)
    backbone = model.get_layer("backbone")
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # a small, distinctive change: a later change would show
            layer.moving_mean.assign(to_numpy(layer.moving_mean) + 1e-3)
    snapshot = {w.path: to_numpy(w) for w in backbone.weights}
    tk.fine_tune(model, ds, epochs=2, num_layers=12, learning_rate=1e-2, patience=0,
                 verbose=0)
    top = {layer.name for layer in backbone.layers[-12:]}
    changed_top = 0
    for layer in backbone.layers:
        for weight in layer.weights:
            same = np.array_equal(snapshot[weight.path], to_numpy(weight))
            if isinstance(layer, keras.layers.BatchNormalization) or layer.name not in top:
                assert same, f"{weight.path} changed but should be frozen"
            elif any(weight is w for w in layer.trainable_weights):
                changed_top += not same
    assert changed_top > 0
    # fine_tune recompiled with the stage-2 learning rate.
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)


def test_fine_tune_without_recompiling_would_not_train(monkeypatch):
    """Guards the recompile: with compile skipped, unfrozen kernels stay put."""
    ds = _dataset()
    model = _model()
    tk.train_head(model, ds, epochs=1, feature_cache=None, verbose=0)
    kernel = model.get_layer("backbone").get_layer("conv_pw_13").kernel
    before = to_numpy(kernel)
    monkeypatch.setattr(training, "compile_for_stage", lambda model, *a, **k: model)
    # (the full model: the cached-prefix path trains a new `top` model, compiled anew)
    tk.fine_tune(model, ds, epochs=1, num_layers=12, patience=0, verbose=0,
                 feature_cache=None)
    assert np.array_equal(before, to_numpy(kernel))


def _invert(images):
    """An 'augmentation' that swaps bright and dark: its effect cannot be missed."""
    return 255.0 - images


def test_fine_tune_trains_on_augmented_batches():
    ds = _dataset(64)
    inverted = ds.map(lambda images, labels: (_invert(images), labels))
    accuracy = {}
    for augment in (None, _invert):
        keras.utils.set_random_seed(0)
        model = _model(dropout=0.0)
        tk.train_head(model, ds, epochs=15, learning_rate=1e-2, patience=0, verbose=0)
        # 30 epochs: at 15 the inverted task reached 0.67 on an AVX-512 CPU, 0.75+ on others
        tk.fine_tune(model, ds, epochs=30, fraction=0.3, learning_rate=1e-2, patience=0,
                     verbose=0, augment=augment)
        accuracy[augment] = (model.evaluate(ds, verbose=0)[1],
                             model.evaluate(inverted, verbose=0)[1])
    # Without augmentation the model keeps its task; trained on inverted images,
    # it learns the inverted task instead.
    assert accuracy[None][0] > 0.75, accuracy
    assert accuracy[_invert][1] > 0.75 and accuracy[_invert][0] < 0.5, accuracy


def test_two_stage_augments_stage_two_and_keeps_stage_one_cached(monkeypatch):
    applied = []
    real = tk.augment_dataset
    monkeypatch.setattr(training, "augment_dataset",
                        lambda ds, augment: applied.append(augment) or real(ds, augment))
    augment = tk.build_augmentation(seed=0)
    cached_calls = []
    real_extract = tk_features.extract_outputs
    monkeypatch.setattr(tk_features, "extract_outputs",
                        lambda *a, **k: cached_calls.append(1) or real_extract(*a, **k))
    ds = _dataset()
    tk.train_two_stage(_model(), ds, ds, head_epochs=1, fine_tune_epochs=1, patience=0,
                       verbose=0, augment=augment)
    assert applied == [augment] and cached_calls == [1]  # stage 2 only; stage 1 cached
    applied.clear()
    tk.train_two_stage(_model(), ds, ds, head_epochs=1, fine_tune_epochs=1, patience=0,
                       verbose=0, augment=augment, feature_cache=None)
    assert applied == [augment, augment]
    with pytest.raises(TypeError, match="`augment`"):
        tk.fine_tune(_model(), ds, epochs=1, augment="flip", verbose=0)
    with pytest.raises(TypeError, match="`ds`"):
        tk.augment_dataset([1, 2], augment)


HELPFUL_FINE_TUNING = dict(head_epochs=2, head_learning_rate=1e-5, fine_tune_epochs=3,
                           fine_tune_learning_rate=1e-3, patience=0, verbose=0)


@pytest.fixture(scope="module")
def helpful_fine_tuning(tmp_path_factory):
    """One seeded two-stage run whose stage 2 helps (stage 1 barely moves at 1e-5),
    with a checkpoint; the tests below only read it.

    Returns `(weights right after training, history, checkpoint folder)`.
    """
    folder = tmp_path_factory.mktemp("two_stage")
    tk.set_seed(3)
    model = _model()
    history = tk.train_two_stage(model, _dataset(), _dataset(), **HELPFUL_FINE_TUNING,
                                 checkpoint_path=folder / "best.keras")
    return model.get_weights(), history, folder


def test_two_stage_history_marks_the_boundary(helpful_fine_tuning):
    _, history, folder = helpful_fine_tuning
    assert history.fine_tune_epoch == 2
    assert history.epoch == [0, 1, 2, 3, 4]
    assert len(history.history["val_accuracy"]) == 5
    assert set(history.seconds) == {"head", "fine_tune"}
    assert [p.name for p in folder.iterdir()] == ["best.keras"]  # no temp files left
    json.dumps(history.to_dict())


def test_early_stopping_restores_best_weights():
    ds = _dataset()
    model = _model()
    history = tk.train_head(model, ds, ds, epochs=30, learning_rate=0.5, patience=1,
                            verbose=0)
    best = min(history.history["val_loss"])
    assert model.evaluate(ds, verbose=0)[0] == pytest.approx(best, rel=1e-3)


def test_save_load_round_trip_is_identical_and_safe(tmp_path):
    model = _model(augmentation=tk.build_augmentation(seed=0), hidden_units=(8,))
    images, _ = _toy_data(8)
    path = tk.save_model(model, tmp_path / "model.keras")
    loaded = tk.load_model(path)
    np.testing.assert_allclose(model.predict(images, verbose=0),
                               loaded.predict(images, verbose=0), rtol=1e-6)
    assert backbone_name(loaded) == "mobilenet"
    with pytest.raises(ValueError, match="'.keras'"):
        tk.save_model(model, tmp_path / "model.h5")
    bad = tmp_path / "not_a_model.keras"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a Keras model"):
        tk.load_model(bad)


def test_mixed_precision_keeps_predictions_in_float32():
    model = _model(mixed_precision=True)
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards
    assert model.get_layer("pooling").compute_dtype == "float16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    out = model.predict(_toy_data(4)[0], verbose=0)
    assert out.dtype == np.float32


def test_pretrain_source_weights_load_through_weights_path(tmp_path):
    ds = _dataset(32)
    path = tmp_path / "source.weights.h5"
    model, history = tk.pretrain_source("mobilenet", ds, ds, epochs=1, save_path=path,
                                        verbose=0, alpha=0.25)
    record = json.loads((tmp_path / "source.json").read_text())
    assert record["backbone"] == "mobilenet" and record["num_classes"] == 2
    assert record["backbone_kwargs"] == {"alpha": 0.25}
    transferred = tk.build_classifier("mobilenet", 3, input_shape=(48, 48, 3), weights=path,
                                      alpha=0.25)
    source_backbone = model.get_layer("backbone")
    for a, b in zip(source_backbone.weights, transferred.get_layer("backbone").weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # From scratch, BatchNorm learned statistics (it ran in training mode).
    bn = source_backbone.get_layer("conv1_bn")
    assert not np.allclose(to_numpy(bn.moving_mean), 0)
    with pytest.raises(ValueError, match=".weights.h5"):
        tk.pretrain_source("mobilenet", ds, save_path=tmp_path / "x.h5", alpha=0.25)


MIRRORED = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import transfer_keras as tk
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = (rng.uniform(0, 120, (32, 32, 32, 3)) + labels[:, None, None, None] * 120)
    ds = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(8)
    src = tk.project_source_backbone()  # real features (random MobileNet ones are ~0)
    model = tk.build_classifier(src.backbone, 2, input_shape=(32, 32, 3), weights=src.weights,
                                **src.kwargs, strategy=strategy)
    history = tk.train_two_stage(model, ds, ds, head_epochs=1, fine_tune_epochs=1,
                                 feature_cache="disk", strategy=strategy, verbose=0)
    print("replicas", strategy.num_replicas_in_sync)
    print("cache", history.feature_cache)
    print("variable", type(model.get_layer("predictions").kernel.value).__name__)
    print("epochs", len(history.epoch))
    top_kernel = model.get_layer("backbone").get_layer("conv_pw_13").kernel
    before = top_kernel.numpy()
    tuned = tk.fine_tune(model, ds, ds, epochs=1, fraction=0.3, patience=0,
                         learning_rate=1e-2, strategy=strategy, verbose=0)
    print("prefix", tuned.prefix_cache, tuned.cut_layer)
    print("moved", not np.array_equal(before, top_kernel.numpy()))
    bottom_kernel = model.get_layer("backbone").get_layer("conv1").kernel
    bottom, top = bottom_kernel.numpy(), top_kernel.numpy()
    tk.fine_tune(model, ds, ds, epochs=1, lr_factors=(0, 0.1, 1), learning_rate=1e-2,
                 patience=0, strategy=strategy, verbose=0)
    print("layer rates", np.array_equal(bottom, bottom_kernel.numpy()),
          not np.array_equal(top, top_kernel.numpy()))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    assert "Mirrored" in result.stdout
    assert "epochs 2" in result.stdout
    assert "cache disk" in result.stdout  # stage 1 on cached features, under the strategy
    assert "prefix memory conv_" in result.stdout  # stage 2 on the cached frozen prefix
    assert "moved True" in result.stdout
    assert "layer rates True True" in result.stdout  # factor 0 frozen, the rest learns


def test_best_checkpoint_and_weights_are_the_best_of_both_stages(tmp_path, monkeypatch):
    ds = _dataset()
    model = _model()
    checkpoint = tmp_path / "best.keras"
    saves = []
    real_save = tk.save_model
    monkeypatch.setattr(callbacks, "save_model",
                        lambda m, path: saves.append(path) or real_save(m, path))
    after_head = []
    history = tk.train_two_stage(
        model, ds, ds, head_epochs=8, fine_tune_epochs=3, fine_tune_learning_rate=1.0,
        patience=0, checkpoint_path=checkpoint, verbose=0,
        after_head=lambda m: after_head.append(m.evaluate(ds, verbose=0)[0]))
    head_losses = history.history["val_loss"][:history.fine_tune_epoch]
    fine_losses = history.history["val_loss"][history.fine_tune_epoch:]
    assert min(fine_losses) > min(head_losses)  # stage 2 made things worse...
    assert history.kept_stage == "head"  # ...so stage 1's best weights are kept,
    assert model.evaluate(ds, verbose=0)[0] == pytest.approx(min(head_losses), rel=1e-3)
    assert after_head == [pytest.approx(min(head_losses), rel=1e-3)]
    # ...and no stage-2 epoch overwrote stage 1's best checkpoint.
    assert len(saves) <= len(head_losses)
    best = tk.load_model(checkpoint)
    assert best.evaluate(ds, verbose=0)[0] == pytest.approx(min(head_losses), rel=1e-3)


def test_fine_tuning_that_helps_is_kept(helpful_fine_tuning):
    _, history, folder = helpful_fine_tuning
    losses = history.history["val_loss"]
    boundary = history.fine_tune_epoch
    head_losses, fine_losses = losses[:boundary], losses[boundary:]
    assert min(fine_losses) < min(head_losses) and history.kept_stage == "fine_tune"
    best = tk.load_model(folder / "best.keras")
    assert best.evaluate(_dataset(), verbose=0)[0] == pytest.approx(min(losses), rel=1e-3)


def test_train_from_scratch_learns_every_layer():
    ds = _dataset()
    model = tk.baselines.build_small_cnn(2, (32, 32, 3))
    before = [w.copy() for w in model.get_weights()]
    history = tk.train_from_scratch(model, ds, ds, epochs=15, learning_rate=3e-3,
                                          patience=0, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed[:3])  # the stem and first block learned too


def test_set_seed_repeats_a_run_exactly(helpful_fine_tuning):
    first, _, _ = helpful_fine_tuning  # made after set_seed(3), as here
    tk.set_seed(3)
    model = _model()
    tk.train_two_stage(model, _dataset(), _dataset(), **HELPFUL_FINE_TUNING)
    second = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    with pytest.raises(TypeError, match="`seed`"):
        tk.set_seed("0")


# --------------------------------------------------------------------------- warm-up


class _RateSpy(keras.callbacks.Callback):
    """Records the optimizer's learning rate as every training step ends."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(to_numpy(self.model.optimizer.learning_rate)))


def test_fine_tune_warms_the_learning_rate_up_per_step_over_the_first_epoch():
    ds = _dataset()  # 48 images in batches of 16: 3 steps per epoch
    model, spy = _model(), _RateSpy()
    tk.fine_tune(model, ds, epochs=2, num_layers=3, learning_rate=1e-3, patience=0,
                 verbose=0, callbacks=[spy], warmup_epochs=1)
    ramp = spy.rates
    assert ramp[0] == pytest.approx(callbacks.WARMUP_START_FRACTION * 1e-3)
    assert ramp[0] < ramp[1] < ramp[2] < 1e-3  # rises step by step during epoch 1...
    assert ramp[3:] == pytest.approx([1e-3] * 3)  # ...and holds the target in epoch 2
    assert float(to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="`warmup_epochs`"):
        tk.fine_tune(model, ds, epochs=1, warmup_epochs=-1, verbose=0)


def test_warm_up_of_zero_epochs_trains_at_the_target_rate_throughout():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax",
                                                                     name="predictions")])
    tk.compile_for_stage(model, stage="head", learning_rate=1e-2)
    spy = _RateSpy()
    x, y = np.zeros((12, 4), "float32"), np.zeros(12, "int32")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[callbacks.LinearWarmup(1e-2, warmup_epochs=0), spy])
    assert spy.rates == pytest.approx([1e-2] * 6)


def test_two_stage_passes_the_warm_up_to_fine_tuning(monkeypatch):
    seen = {}

    def fake_fine_tune(*args, **kwargs):
        seen.update(kwargs)
        return keras.callbacks.History()

    monkeypatch.setattr(training, "fine_tune", fake_fine_tune)
    tk.train_two_stage(_model(), _dataset(), head_epochs=1, fine_tune_epochs=1,
                       patience=0, verbose=0, warmup_epochs=2)
    assert seen["warmup_epochs"] == 2


# --------------------------------------------------------------------------- learning-rate finder


def _state(model):
    """Everything find_learning_rate must leave as it was."""
    flags = [layer.trainable for layer in model._flatten_layers(include_self=True)]
    return model.get_weights(), flags, model.optimizer, tk.trainable_summary(
        model).total_trainable


@pytest.mark.parametrize("stage", ["fine_tune", "head"])
def test_find_learning_rate_has_no_side_effect(stage):
    model = _model()
    tk.train_head(model, _dataset(), epochs=1, verbose=0)  # compiled, head stage
    weights, flags, optimizer, trainable = _state(model)
    iterations = int(to_numpy(optimizer.iterations))
    result = tk.find_learning_rate(model, _dataset(), steps=6, stage=stage, num_layers=6)
    after_weights, after_flags, after_optimizer, after_trainable = _state(model)
    assert all(np.array_equal(a, b) for a, b in zip(weights, after_weights))
    assert after_flags == flags and after_trainable == trainable
    assert after_optimizer is optimizer and int(to_numpy(optimizer.iterations)) == iterations
    assert result.stage == stage and len(result.losses) == len(result.rates) <= 8


def test_find_learning_rate_sweeps_the_range_and_suggests_a_rate_inside_it():
    tk.set_seed(0)
    result = tk.find_learning_rate(_model(), _dataset(), min_lr=1e-5, max_lr=1e-1, steps=12,
                                   stage="head", diverge_factor=1e9)
    assert not result.stopped_early and len(result.rates) == 12
    assert result.rates[0] == pytest.approx(1e-5) and result.rates[-1] == pytest.approx(1e-1)
    ratios = np.array(result.rates[1:]) / np.array(result.rates[:-1])
    np.testing.assert_allclose(ratios, ratios[0])  # exponential steps
    assert result.rates[0] <= result.suggestion <= result.rates[-1]
    assert result.suggestion_rule and "suggestion" in repr(result)
    assert np.all(np.isfinite(result.smoothed_losses))


def test_find_learning_rate_stops_when_the_loss_diverges():
    tk.set_seed(0)
    result = tk.find_learning_rate(_model(), _dataset(), min_lr=1e-3, max_lr=1e5, steps=40,
                                   stage="head")
    assert result.stopped_early and len(result.rates) < 40
    last = result.smoothed_losses[-1]
    assert not np.isfinite(last) or last > 4.0 * min(result.smoothed_losses[:-1])
    assert result.rates[0] <= result.suggestion <= result.rates[-1]


def test_the_range_test_is_a_callback_on_a_plain_fit():
    """`LearningRateFinder` works on any compiled model and a normal `fit`: one batch per
    epoch, the rate multiplied by the same factor each time, the fit stopped on divergence."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(16)
    finder = lr_finder.LearningRateFinder(1e-4, 1e2, 9, diverge_factor=1e9)
    history = model.fit(ds.repeat(), epochs=9, steps_per_epoch=1, callbacks=[finder], verbose=0)
    assert finder.losses == pytest.approx(history.history["loss"])  # each epoch's one batch
    np.testing.assert_allclose(finder.rates, np.logspace(-4, 2, 9), rtol=1e-6)
    diverging = lr_finder.LearningRateFinder(1e-2, 1e6, 30, diverge_factor=1.5)
    model.fit(ds.repeat(), epochs=30, steps_per_epoch=1, callbacks=[diverging], verbose=0)
    assert len(diverging.losses) < 30  # stopped once the loss passed 1.5x its lowest


def test_stage_histories_are_ours_and_frozen():
    history = tk.train_head(_model(), _dataset(), _dataset(), epochs=2, verbose=0)
    assert isinstance(history, tk.StageHistory) and history.feature_cache == "memory"
    assert set(history.history) >= {"loss", "val_loss"} and history.epoch == [0, 1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        history.feature_cache = "disk"
    merged = tk.TransferHistory.from_stages(history, history, seconds={"head": 1.0})
    assert merged.fine_tune_epoch == 2 and len(merged.epoch) == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        merged.kept_stage = "head"


def test_suggestion_rules_on_known_curves():
    rates = list(np.logspace(-5, -1, 9))
    falls_then_rises = [1.0, 0.99, 0.97, 0.9, 0.5, 0.45, 0.44, 0.5, 2.0]
    rate, rule = lr_finder.suggest_steepest_rise(rates, falls_then_rises)
    assert rate == pytest.approx(rates[8] / 10) and "rose 25%" in rule  # 2.0 > 1.25 * 0.44
    flat_then_rises = [0.6, 0.55, 0.5, 0.56, 0.58, 0.52, 0.6, 0.9, 3.0]
    assert lr_finder.suggest_steepest_rise(rates, flat_then_rises)[0] == pytest.approx(
        rates[7] / 10)  # 0.9 > 1.25 * 0.5: the first clear rise after the minimum
    never_rises = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    rate, rule = lr_finder.suggest_steepest_rise(rates, never_rises)
    assert rate == pytest.approx(rates[-1] / 10) and "max_lr" in rule
    assert lr_finder.suggest_steepest_rise(rates, [1.0,
                                                   0.8] + [float("nan")] * 7)[0] == pytest.approx(
        rates[2] / 10)  # NaN (a diverged loss) counts as a rise


def test_find_learning_rate_errors_name_the_argument():
    model = _model()
    with pytest.raises(ValueError, match="`max_lr` must be larger"):
        tk.find_learning_rate(model, _dataset(), min_lr=1e-2, max_lr=1e-3)
    with pytest.raises(ValueError, match="`steps`"):
        tk.find_learning_rate(model, _dataset(), steps=1)
    with pytest.raises(ValueError, match="`stage`"):
        tk.find_learning_rate(model, _dataset(), stage="everything")
    with pytest.raises(ValueError, match="`smoothing`"):
        tk.find_learning_rate(model, _dataset(), smoothing=1.0)


@pytest.mark.parametrize("options, match", [
    (dict(from_layer="conv_pw_13_typo"), "`from_layer` 'conv_pw_13_typo' is not a layer"),
    (dict(num_layers=3, fraction=0.5), "Give only one of num_layers, from_layer, fraction"),
    (dict(fine_tune_learning_rate=-1), "`fine_tune_learning_rate` must be a positive number"),
    (dict(head_learning_rate=0), "`head_learning_rate` must be a positive number"),
    (dict(fine_tune_epochs=-1), "`fine_tune_epochs` must be a whole number of epochs.*skip"),
    (dict(head_epochs=1.5), "`head_epochs` must be a whole number of epochs"),
    (dict(warmup_epochs=-1), "`warmup_epochs`"),
    (dict(patience=-2), "`patience` must be a whole number of epochs.*turn early stopping"),
])
def test_two_stage_checks_every_option_before_stage_one_trains(options, match, monkeypatch):
    fits = []
    monkeypatch.setattr(training, "fit_model", lambda *a, **k: fits.append(1))
    arguments = dict(head_epochs=3, fine_tune_epochs=1, verbose=0) | options
    wrong_type = options == dict(head_epochs=1.5)  # a TypeError, not a ValueError
    with pytest.raises(TypeError if wrong_type else ValueError, match=match):
        tk.train_two_stage(_model(), _dataset(), _dataset(), **arguments)
    assert fits == []  # nothing trained


@pytest.mark.parametrize("function", ["train_head", "fine_tune"])
@pytest.mark.parametrize("options, match", [
    (dict(epochs=0), "`epochs` must be a whole number of epochs"),
    (dict(epochs=1.5), "`epochs` must be a whole number of epochs"),
    (dict(patience=-2), "`patience`"),
])
def test_stage_functions_refuse_bad_epochs_and_patience(function, options, match):
    wrong_type = options == dict(epochs=1.5)  # a TypeError, not a ValueError
    with pytest.raises(TypeError if wrong_type else ValueError, match=match):
        getattr(tk, function)(_model(), _dataset(), verbose=0, **options)


def _with_labels(labels):
    images, _ = _toy_data(len(labels))
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


@pytest.mark.parametrize("function", ["train_head", "fine_tune", "train_from_scratch"])
@pytest.mark.parametrize("make_data, error, match", [
    (lambda: _toy_data(), TypeError, "`train_ds` must be a batched tf.data.Dataset.*a tuple"),
    (lambda: _dataset().unbatch(), ValueError, r"must yield batches of images.*\.batch\(32\)"),
    (lambda: tf.data.Dataset.from_tensor_slices(_toy_data(size=40)).batch(8), ValueError,
     r"images are \(40, 40, 3\) but the model takes \(32, 32, 3\).*prepare"),
    (lambda: _with_labels(np.eye(2, dtype="int32")[np.arange(48) % 2]), ValueError,
     "labels must be integer class indices.*One-hot"),
])
def test_training_data_mistakes_are_named_before_training(function, make_data, error, match):
    model = _model() if function != "train_from_scratch" else tk.build_scratch_classifier(
        "mobilenet", 2, input_shape=(32, 32, 3), alpha=0.25)
    with pytest.raises(error, match=match):
        getattr(tk, function)(model, make_data(), epochs=1, verbose=0)


def test_labels_beyond_the_models_classes_are_named():
    labels = (np.arange(48) % 2 + 5).astype("int32")  # 5 and 6 on a 2-class model
    with pytest.raises(ValueError, match="`train_ds` has labels from 5 to 6.*predicts 2"):
        tk.train_head(_model(), _with_labels(labels), epochs=1, verbose=0)
