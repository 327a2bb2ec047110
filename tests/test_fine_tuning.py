"""Fine-tuning that pays: layer groups, discriminative rates, gradual unfreezing, schedules."""

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import transfer_keras as tk
from transfer_keras import callbacks, layout, stages

SOURCE = tk.project_source_backbone()  # real features: random MobileNet ones are ~0


def _model(**kwargs):
    return tk.build_classifier(SOURCE.backbone, 2, input_shape=(32, 32, 3), weights=SOURCE.weights,
                               **SOURCE.kwargs, **kwargs)


def _dataset(n=48, batch_size=16):
    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 2).astype("int32")
    images = rng.uniform(0, 120, (n, 32, 32, 3)) + labels[:, None, None, None] * 120
    return tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(
        batch_size)


def _kernels(group):
    return [layer.kernel.numpy().copy() for layer in group.layers
            if hasattr(layer, "kernel") and not isinstance(layer, keras.layers.BatchNormalization)]


# --- layer groups ------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_layer_groups_cover_the_backbone_bottom_to_top_then_the_head(n):
    model = _model()
    groups = tk.layer_groups(model, n)
    backbone = model.get_layer("backbone")
    assert len(groups) == n and groups[-1].name == "head"
    assert groups[-1].layers == layout.head_layers(model)
    layers = [layer for group in groups[:-1] for layer in group.layers]
    assert layers == backbone.layers[1:]  # every layer once, in order (the input aside)
    assert groups[0].name.startswith("conv1 … ")
    depths = [layout._depth(group.layers) for group in groups[:-1]]
    assert max(depths) - min(depths) <= 3  # about equal shares of the learning layers


def test_layer_groups_never_split_a_residual_block_or_a_conv_from_its_batchnorm():
    model = tk.build_classifier("efficientnet_lite0", 2, input_shape=(32, 32, 3), weights=None)
    backbone = model.get_layer("backbone")
    starts = layout.block_starts(backbone)
    index = {id(layer): i for i, layer in enumerate(backbone.layers)}
    for n in (3, 4, 6):
        for group in tk.layer_groups(model, n)[1:-1]:
            first = index[id(group.layers[0])]
            assert first in starts
            assert layout.clean_cut(backbone, first)[0] == first  # one tensor crosses here
            assert not isinstance(group.layers[0], keras.layers.BatchNormalization)
    names = [group.name for group in tk.layer_groups(model, 3)]
    assert names == ["stem_conv … block4c_add", "block5a_expand_conv … top_activation", "head"]


@pytest.mark.parametrize("n", [1, 0, True, 2.0, "3", 99])
def test_layer_groups_refuse_a_bad_count(n):
    with pytest.raises(ValueError, match=r"`n` must be .* received n="):
        tk.layer_groups(_model(), n)


def test_the_trainable_summary_shows_the_groups():
    model = _model()
    tk.unfreeze_backbone(model, fraction=0.3)
    table = tk.trainable_summary(model, groups=3)
    parts = [row["part"] for row in table.rows]
    assert parts == [group.name for group in tk.layer_groups(model, 3)]
    assert table.rows[0]["trainable params"] == 0 and table.rows[1]["trainable params"] > 0
    assert table.total_trainable == tk.trainable_summary(model).total_trainable


# --- discriminative rates --------------------------------------------------

def test_one_sgd_step_moves_each_group_in_proportion_to_its_factor():
    model = _model()
    tk.unfreeze_backbone(model)
    factors = (0.0, 0.1, 1.0)
    by_variable = tk.group_rate_factors(model, factors)
    optimizer = tk.with_layer_rates(keras.optimizers.SGD(0.5), by_variable)
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    images, labels = next(iter(_dataset()))
    variables = model.trainable_variables
    before = [variable.numpy().copy() for variable in variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, model(images)))
    gradients = tape.gradient(loss, variables)
    model.optimizer.apply(gradients, variables)
    seen = set()
    for variable, old, gradient in zip(variables, before, gradients):
        factor = by_variable[variable.path]
        seen.add(factor)
        np.testing.assert_allclose(old - variable.numpy(), 0.5 * factor * gradient.numpy(),
                                   rtol=1e-3, atol=1e-7)
    assert seen == set(factors)
    assert any(np.abs(g.numpy()).max() > 1e-4 for g in gradients)  # the check had teeth


def test_factor_zero_freezes_its_group_and_the_rest_learns():
    model = _model()
    ds = _dataset()
    tk.train_head(model, ds, ds, epochs=2, verbose=0)
    groups = tk.layer_groups(model, 3)
    bottom, middle = _kernels(groups[0]), _kernels(groups[1])
    history = tk.fine_tune(model, ds, ds, epochs=2, lr_factors=(0, 0.1, 1), patience=0,
                           learning_rate=1e-2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(bottom, _kernels(groups[0])))
    assert not all(np.array_equal(a, b) for a, b in zip(middle, _kernels(groups[1])))
    assert not any(layer.trainable for layer in groups[0].layers)
    # the frozen bottom group ran once, as a cached prefix
    assert history.prefix_cache == "memory"
    assert history.cut_layer == groups[0].layers[-1].name


def test_layer_rates_work_with_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _model()
        tk.unfreeze_backbone(model)
        groups = tk.layer_groups(model, 3)
        optimizer = tk.with_layer_rates(keras.optimizers.Adam(1e-2),
                                        tk.group_rate_factors(model, (0, 1, 1)))
        model.compile(optimizer, loss="sparse_categorical_crossentropy")
        bottom, middle = _kernels(groups[0]), _kernels(groups[1])
        model.fit(_dataset(), epochs=1, verbose=0)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert type(model.optimizer.inner_optimizer).__name__ == "LayerRatesAdam"
        assert all(np.array_equal(a, b) for a, b in zip(bottom, _kernels(groups[0])))
        assert not all(np.array_equal(a, b) for a, b in zip(middle, _kernels(groups[1])))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_layer_rates_and_schedules_save_and_load_with_keras(tmp_path):
    model = _model()
    tk.unfreeze_backbone(model)
    schedule = tk.WarmupCosine(1e-2, total_steps=30, warmup_steps=3)
    optimizer = tk.with_layer_rates(keras.optimizers.Adam(schedule),
                                    tk.group_rate_factors(model, (0.01, 0.1, 1)))
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    model.fit(_dataset(), epochs=1, verbose=0)
    model.save(tmp_path / "plain.keras")  # Keras's own save: everything comes back
    loaded = keras.models.load_model(tmp_path / "plain.keras")
    assert type(loaded.optimizer).__name__ == "LayerRatesAdam"
    assert loaded.optimizer.lr_factors == optimizer.lr_factors
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(schedule(3)))
    loaded.fit(_dataset(), epochs=1, verbose=0)
    # the library's save_model names only Keras's classes: it loads without this library
    tk.save_model(model, tmp_path / "portable.keras")
    with zipfile.ZipFile(tmp_path / "portable.keras") as archive:
        config = archive.read("config.json").decode()
    assert "transfer_keras" not in config and "LayerRates" not in config
    compiled = json.loads(config)["compile_config"]["optimizer"]
    assert compiled["class_name"] == "Adam"
    assert compiled["config"]["learning_rate"] == pytest.approx(float(schedule(3)))
    assert type(tk.load_model(tmp_path / "portable.keras").optimizer) is keras.optimizers.Adam


def test_with_layer_rates_keeps_the_optimizer_settings_and_refuses_non_optimizers():
    optimizer = tk.with_layer_rates(keras.optimizers.SGD(0.1, momentum=0.9), {"a/kernel": 0.5})
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.9 and optimizer.lr_factors == {"a/kernel": 0.5}
    again = tk.with_layer_rates(optimizer, {"a/kernel": 0.1})
    assert type(again) is type(optimizer) and again.lr_factors == {"a/kernel": 0.1}
    with pytest.raises(TypeError, match="`optimizer` must be a Keras optimizer"):
        tk.with_layer_rates("adam", {})


# --- schedules -------------------------------------------------------------

def test_warmup_cosine_climbs_then_decays():
    schedule = tk.WarmupCosine(1e-3, total_steps=100, warmup_steps=10, final_fraction=0.1)
    rates = [float(schedule(step)) for step in range(120)]
    assert rates[0] == pytest.approx(1e-4) and rates[10] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(rates[:10], rates[1:11]))
    assert all(a >= b for a, b in zip(rates[10:100], rates[11:101]))
    assert rates[100] == pytest.approx(1e-4) and rates[119] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="`warmup_steps`"):
        tk.WarmupCosine(1e-3, total_steps=10, warmup_steps=10)


def test_one_cycle_peaks_at_its_turn_and_ends_far_below_its_start():
    schedule = tk.OneCycle(1e-2, total_steps=100, warmup_fraction=0.3)
    rates = np.array([float(schedule(step)) for step in range(101)])
    assert rates.argmax() == 30 and rates.max() == pytest.approx(1e-2)
    assert rates[0] == pytest.approx(1e-2 / 25, rel=1e-5)
    assert rates[100] == pytest.approx(1e-6, rel=1e-5)
    with pytest.raises(ValueError, match="`warmup_fraction`"):
        tk.OneCycle(1e-2, total_steps=100, warmup_fraction=1.5)


def test_fine_tune_follows_its_schedule_and_ends_with_a_plain_optimizer():
    model = _model()
    ds = _dataset()
    rates = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(float(self.model.optimizer.learning_rate))

    tk.fine_tune(model, ds, ds, epochs=3, learning_rate=1e-3, schedule="cosine",
                 warmup_epochs=1, patience=0, callbacks=[Record()], verbose=0)
    steps = int(ds.cardinality())
    expected = tk.WarmupCosine(1e-3, 3 * steps, steps)
    np.testing.assert_allclose(rates, [float(expected(step)) for step in range(3 * steps)],
                               rtol=1e-5)
    assert type(model.optimizer) is keras.optimizers.Adam  # saves and loads anywhere


# --- gradual unfreezing ----------------------------------------------------

def test_gradual_unfreezing_goes_group_by_group_from_the_top():
    model = _model()
    ds = _dataset()
    tk.train_head(model, ds, ds, epochs=3, verbose=0)
    history = tk.fine_tune(model, ds, ds, epochs=2, groups=4, gradual=True,
                           learning_rate=1e-3, patience=1, verbose=0)
    groups = tk.layer_groups(model, 4)
    expected = [group.layers[0].name for group in reversed(groups[:-1])]
    assert [step["from_layer"] for step in history.steps] == expected[:len(history.steps)]
    assert all(1 <= step["epochs"] <= 2 for step in history.steps)
    assert len(history.epoch) == sum(step["epochs"] for step in history.steps)
    assert history.epoch == list(range(len(history.epoch)))
    assert history.prefix_cache == "memory"  # the first step trained the top only
    kept = [step for step in history.steps if step["kept"]]
    losses = [step["best_val_loss"] for step in kept]
    assert losses == sorted(losses, reverse=True)  # every kept step beat the one before


def test_gradual_unfreezing_undoes_a_step_that_does_not_help_and_stops():
    model = _model()
    ds = _dataset()
    tk.train_head(model, ds, ds, epochs=3, verbose=0)
    # the top group barely moves (factor 1e-9); the next one, at rate 50, is wrecked
    history = tk.fine_tune(model, ds, ds, epochs=1, lr_factors=(1.0, 1e-9, 1e-9),
                           gradual=True, learning_rate=50.0, patience=0, verbose=0)
    assert history.steps[0]["kept"] is True
    assert history.steps[-1]["kept"] is False and len(history.steps) == 2
    kept_loss = history.steps[0]["best_val_loss"]
    assert model.evaluate(ds, verbose=0)[0] == pytest.approx(kept_loss, rel=1e-3)


# --- checks before any training --------------------------------------------

@pytest.mark.parametrize("options, message", [
    (dict(lr_factors=(1,)), "`lr_factors` must be a list of at least two numbers"),
    (dict(lr_factors=(0.1, -1)), "`lr_factors` must be"),
    (dict(lr_factors="0.1"), "`lr_factors` must be"),
    (dict(lr_decay=0), r"`lr_decay` must be a number in \(0, 1\]"),
    (dict(lr_decay=3), "`lr_decay`"),
    (dict(lr_factors=(0.1, 1), lr_decay=0.3), "not both"),
    (dict(groups=1), "`groups` must be"),
    (dict(groups=99, gradual=True), "`groups` asks for 99 layer groups"),
    (dict(lr_factors=(1,) * 40), "`lr_factors` asks for 40 layer groups"),
    (dict(gradual="yes"), "`gradual` must be True or False"),
    (dict(schedule="cos"), "`schedule` must be one of"),
])
def test_bad_recipe_options_fail_before_any_training(options, message):
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        tk.train_two_stage(model, _dataset(), _dataset(), **options, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_schedule_needs_a_dataset_that_knows_its_length():
    unknown = _dataset().filter(lambda images, labels: True)
    with pytest.raises(ValueError, match="assert_cardinality"):
        tk.fine_tune(_model(), unknown, epochs=1, schedule="cosine", verbose=0)


def test_the_schedule_plot_draws_each_schedule_and_each_group():
    from transfer_keras import plots

    figure = plots.plot_learning_rate_schedules(
        {"warm-up + cosine": tk.WarmupCosine(1e-3, 40, 4), "one-cycle": tk.OneCycle(1e-3, 40)},
        40, group_factors={"bottom": 0.09, "middle": 0.3})
    lines = figure.axes[0].get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[2].get_ydata(), 0.09 * lines[0].get_ydata(), rtol=1e-6)
    with pytest.raises(TypeError, match="`schedules` must be a dict"):
        plots.plot_learning_rate_schedules(tk.OneCycle(1e-3, 40), 40)


def test_reduce_lr_on_plateau_lowers_the_base_rate_and_the_factors_still_apply():
    model = _model()
    ds = _dataset()
    groups = tk.layer_groups(model, 3)
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((float(self.model.optimizer.learning_rate),
                         dict(self.model.optimizer.lr_factors)))

    bottom = _kernels(groups[0])
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                min_delta=1e9)  # every epoch is a plateau
    tk.fine_tune(model, ds, epochs=3, lr_factors=(0, 0.1, 1), learning_rate=1e-3,
                 patience=0, callbacks=[plateau, Watch()], verbose=0)
    assert [rate for rate, _ in seen] == pytest.approx([1e-3, 5e-4, 2.5e-4])  # 1st sets the best
    assert set(seen[0][1].values()) == {0.1, 1.0}  # the frozen group has no variables to train
    assert all(np.array_equal(a, b) for a, b in zip(bottom, _kernels(groups[0])))


# --- the defaults: the recipe the benchmark measured best ----------------------

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CANDIDATES = ("two_stage_today", "two_stage_range_test", "top_third", "discriminative",
              "gradual")


def _benchmark(name):
    return json.loads((BENCHMARKS / name).read_text())


def test_the_defaults_are_the_recipe_cross_validation_chose():
    choice = _benchmark("choose_fine_tuning.json")
    ratios = choice["loss_over_frozen"]
    assert set(ratios) == {"frozen", *CANDIDATES}
    assert choice["chosen"] == min(ratios, key=ratios.get) == "two_stage_range_test"
    # that recipe: the whole backbone, no warm-up or schedule, up to 10 epochs, at the rate
    # the range test suggests on the kit (EfficientNet-Lite0's own default rate)
    assert stages.DEFAULT_FINE_TUNE_FRACTION == 1.0
    assert callbacks.DEFAULT_WARMUP_EPOCHS == 0
    assert stages.DEFAULT_FINE_TUNE_EPOCHS == 10
    rate = tk.get_backbone_spec("efficientnet_lite0").fine_tune_learning_rate
    assert rate == pytest.approx(choice["range_test_rates"]["kit"], rel=0.001)
    # and the benchmark's `default` row measured exactly these defaults
    assert _benchmark("fine_tuning.json")["default_recipe"] == {
        "learning_rate": rate, "epochs": stages.DEFAULT_FINE_TUNE_EPOCHS,
        "fraction": stages.DEFAULT_FINE_TUNE_FRACTION,
        "warmup_epochs": callbacks.DEFAULT_WARMUP_EPOCHS}


def test_the_default_is_within_one_standard_error_of_the_best_recipe_on_the_kit():
    rows = {row["method"]: row for row in _benchmark("fine_tuning.json")["rows"]
            if row["task"] == "kit"}
    best = max(("frozen", *CANDIDATES), key=lambda method: rows[method]["mean"])
    assert rows["default"]["seeds"] == rows[best]["seeds"] >= 5
    standard_error = rows[best]["std"] / np.sqrt(rows[best]["seeds"])
    assert rows["default"]["mean"] >= rows[best]["mean"] - standard_error
