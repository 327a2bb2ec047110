"""The baselines every result is shown next to."""

import numpy as np
import pytest
import threadpoolctl

import transfer_keras as tk
from transfer_keras import baselines


def _colour_split(n, seed):
    """Reddish vs bluish 8x8 images with noise: linearly separable pixels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.uniform(0, 100, (n, 8, 8, 3))
    images[labels == 0, :, :, 0] += 150
    images[labels == 1, :, :, 2] += 150
    return images.astype("float32"), labels


def test_majority_predicts_the_most_frequent_training_class():
    score = baselines.majority_baseline([1, 1, 0], [0, 1, 1, 1, 0])
    assert score.accuracy == pytest.approx(0.6) and score.chosen == {"class": 1}


def test_pixels_logistic_separates_colours_and_chooses_c_on_validation():
    train, val, test = (_colour_split(40, seed) for seed in (0, 1, 2))
    score = baselines.pixels_logistic(train, val, test, side=4)
    assert score.accuracy == 1.0 and score.val_accuracy == 1.0
    assert score.chosen["C"] in baselines.LOGISTIC_C_GRID


def test_logistic_regression_fits_with_one_blas_thread(monkeypatch):
    # Next to TensorFlow's threads a multi-threaded BLAS made these small fits ~25x slower.
    seen = []

    class Recording(baselines.LogisticRegression):
        def fit(self, x, y):
            seen.append({pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                         if pool["user_api"] == "blas"})
            return super().fit(x, y)

    monkeypatch.setattr(baselines, "LogisticRegression", Recording)
    train, val, test = (_colour_split(20, seed) for seed in (0, 1, 2))
    baselines.pixels_logistic(train, val, test, side=4)
    assert len(seen) == len(baselines.LOGISTIC_C_GRID)
    assert all(threads == {1} for threads in seen)


def test_logistic_regression_scores_the_test_set_it_is_given():
    train, val, test = (_colour_split(40, seed) for seed in (0, 1, 2))
    flat = [(images.reshape(len(images), -1), labels) for images, labels in (train, val, test)]
    flipped = (flat[2][0], 1 - flat[2][1])
    assert baselines.logistic_regression(flat[0], flat[1], flipped).accuracy == 0.0


def test_linear_probe_uses_the_frozen_features():
    train, val, test = (_colour_split(24, seed) for seed in (0, 1, 2))
    src = tk.project_source_backbone()
    resized = [(np.repeat(np.repeat(images, 4, 1), 4, 2), labels)
               for images, labels in (train, val, test)]
    model = tk.build_classifier(src.backbone, 2, input_shape=(32, 32, 3), weights=src.weights,
                                **src.kwargs)
    features = baselines.pooled_features(model, resized[0][0])
    assert features.shape == (24, model.get_layer("pooling").output.shape[-1])
    assert baselines.linear_probe(model, *resized).accuracy > 0.9
    with pytest.raises(ValueError, match=r"`image_sets` must hold at least one image; "
                                         r"received 2 set\(s\) of sizes \[0, 0\]"):
        baselines.pooled_features(model, resized[0][0][:0], resized[1][0][:0])
    with pytest.raises(ValueError, match="`image_sets` must hold at least one image"):
        baselines.pooled_features(model)
    with pytest.raises(ValueError, match="batch_size"):
        baselines.pooled_features(model, resized[0][0], batch_size=0)


def test_small_cnn_shapes_and_errors():
    model = baselines.build_small_cnn(3, (128, 128, 3))
    assert model.output_shape == (None, 3)
    assert model.get_layer("shrink").output.shape[1:3] == (64, 64)
    assert all(layer.trainable for layer in model.layers)
    assert "shrink" not in [layer.name for layer in
                            baselines.build_small_cnn(2, (64, 64, 3)).layers]
    with pytest.raises(ValueError, match="`num_classes`"):
        baselines.build_small_cnn(1, (64, 64, 3))


def test_baselines_refuse_what_they_cannot_score_and_name_the_part():
    # These used to fail inside NumPy or scikit-learn ("Cannot cast array data...").
    with pytest.raises(ValueError, match="`train_labels` is empty"):
        baselines.majority_baseline([], [0, 1])
    with pytest.raises(ValueError, match="`test_labels` must be whole numbers.*0.5"):
        baselines.majority_baseline([0, 1, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="`train_labels` must be whole numbers from 0 up"):
        baselines.majority_baseline([-1, 0], [0])
    with pytest.raises(ValueError, match="one-hot"):
        baselines.majority_baseline(np.eye(2), [0])

    train, val, test = (_colour_split(12, seed) for seed in (0, 1, 2))
    with pytest.raises(ValueError, match="`val` must have one label per example; received "
                                         "12 images and 11 labels"):
        baselines.pixels_logistic(train, (val[0], val[1][:-1]), test, side=4)
    with pytest.raises(ValueError, match="`train` labels hold one class only"):
        baselines.pixels_logistic((train[0], np.zeros(12, int)), val, test, side=4)
    nan_images = train[0].copy()
    nan_images[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`train` images hold NaN"):
        baselines.pixels_logistic((nan_images, train[1]), val, test, side=4)
    with pytest.raises(ValueError, match="`side` must be"):
        baselines.pixels_logistic(train, val, test, side=0)
    with pytest.raises(TypeError, match="`test` must be a pair.*dataset_to_arrays"):
        baselines.pixels_logistic(train, val, tk.prepare(test, batch_size=4), side=4)
    with pytest.raises(ValueError, match="`test labels` is empty"):
        baselines.logistic_regression(train, val, (test[0][:0], test[1][:0]))
    with pytest.raises(TypeError, match="`side` must be a whole number.*Use side=4"):
        baselines.pixels_logistic(train, val, test, side=4.0)
    with pytest.raises(TypeError, match="`train_labels` must be whole numbers.*received "
                                        "values of type <U"):
        baselines.majority_baseline(["ant", "bee"], [0])


def test_scores_are_frozen_and_optional_arguments_keyword_only():
    import dataclasses
    import inspect

    score = baselines.majority_baseline([1, 1, 0], [0, 1])
    assert dataclasses.is_dataclass(score)
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.accuracy = 1.0
    assert (score.accuracy, score.chosen) == (0.5, {"class": 1}) and np.isnan(score.val_accuracy)
    train, val, test = (_colour_split(12, seed) for seed in (0, 1, 2))
    with pytest.raises(TypeError):
        baselines.pixels_logistic(train, val, test, 4)
    for name in ("pixels_logistic", "imagenet_head", "linear_probe", "build_small_cnn",
                 "pooled_features"):
        for parameter in inspect.signature(getattr(baselines, name)).parameters.values():
            assert (parameter.default is inspect.Parameter.empty
                    or parameter.kind is inspect.Parameter.KEYWORD_ONLY), (name, parameter)
