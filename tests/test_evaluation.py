"""Tests for transfer_keras.evaluation (reports equal scikit-learn's, k-fold, compare),
transfer_keras.inference (probabilities, the traced function, the loss) and the top
losses of transfer_keras.interpret.

Most tests use a model whose predictions equal its input (an Identity layer),
so the "images" are the probabilities we want the model to output.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import classification_report, confusion_matrix

from transfer_keras._table import Table
from transfer_keras.evaluation import (
    CrossValidationResult,
    EvaluationReport,
    compare,
    cross_validate,
    evaluate_classifier,
)
from transfer_keras.inference import predict_probabilities, traced_inference
from transfer_keras.interpret import TopLoss, top_losses
from transfer_keras.models import build_classifier

CLASS_NAMES = ["cat", "dog", "bird"]


def echo_model(units):
    """A model whose output is its input: fixed, known predictions."""
    return keras.Sequential(
        [keras.Input((units,)), keras.layers.Identity(name="predictions")], name="echo"
    )


def batched(images, labels, batch_size=8):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


@pytest.fixture
def fixed_predictions():
    """40 examples of 3 classes; the 'model' never predicts class 2 ('bird')."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=40)
    probabilities = rng.dirichlet([1, 1, 1], size=40).astype("float32")
    probabilities[:, 2] = 0.0  # bird is never the argmax
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities, labels


# --------------------------------------------------------------------------- evaluate_classifier


def test_report_equals_sklearn_with_a_class_never_predicted(fixed_predictions):
    probabilities, labels = fixed_predictions
    report = evaluate_classifier(echo_model(3), batched(probabilities, labels),
                                 class_names=CLASS_NAMES)

    y_pred = probabilities.argmax(axis=1)
    expected = classification_report(labels, y_pred, labels=[0, 1, 2], output_dict=True,
                                     zero_division=0)
    assert isinstance(report, EvaluationReport)
    assert report.accuracy == pytest.approx(np.mean(labels == y_pred))
    for index, row in enumerate(report.per_class):
        assert row["class"] == CLASS_NAMES[index]
        assert row["precision"] == pytest.approx(expected[str(index)]["precision"])
        assert row["recall"] == pytest.approx(expected[str(index)]["recall"])
        assert row["f1"] == pytest.approx(expected[str(index)]["f1-score"])
        assert row["support"] == expected[str(index)]["support"]
    assert report.macro_f1 == pytest.approx(expected["macro avg"]["f1-score"])
    assert report.weighted_avg["f1"] == pytest.approx(expected["weighted avg"]["f1-score"])
    np.testing.assert_array_equal(report.confusion_matrix,
                                  confusion_matrix(labels, y_pred, labels=[0, 1, 2]))
    np.testing.assert_array_equal(report.y_true, labels)
    np.testing.assert_array_equal(report.y_pred, y_pred)
    np.testing.assert_allclose(report.probabilities, probabilities, rtol=1e-6)
    # The class never predicted: precision 0, and the report says so.
    assert report.per_class[2]["precision"] == 0.0
    assert any("Never predicted: bird" in note for note in report.notes)
    assert "Never predicted: bird" in str(report)


def test_report_renders_and_converts(fixed_predictions):
    probabilities, labels = fixed_predictions
    report = evaluate_classifier(echo_model(3), (probabilities, labels), class_names=CLASS_NAMES)
    for text in (str(report), report._repr_html_(), report.to_markdown()):
        assert "macro avg" in text and "weighted avg" in text and "bird" in text
    data = json.loads(json.dumps(report.to_dict(include_predictions=True)))
    assert data["confusion_matrix"] == report.confusion_matrix.tolist()
    assert data["accuracy"] == pytest.approx(report.accuracy)
    assert len(data["y_pred"]) == 40
    assert "y_true" not in report.to_dict()


def test_array_tuple_and_dataset_agree(fixed_predictions):
    probabilities, labels = fixed_predictions
    from_dataset = evaluate_classifier(echo_model(3), batched(probabilities, labels))
    from_arrays = evaluate_classifier(echo_model(3), (probabilities, labels), batch_size=7)
    assert from_dataset.accuracy == from_arrays.accuracy
    assert from_dataset.class_names == ["0", "1", "2"]


def test_shuffled_dataset_keeps_labels_aligned():
    labels = np.arange(64) % 4
    perfect = np.eye(4, dtype="float32")[labels]
    ds = tf.data.Dataset.from_tensor_slices((perfect, labels)).shuffle(
        64, reshuffle_each_iteration=True).batch(8)
    assert evaluate_classifier(echo_model(4), ds).accuracy == 1.0


def test_class_with_no_examples_is_noted():
    probabilities = np.eye(3, dtype="float32")[[0, 1, 0, 1]]
    report = evaluate_classifier(echo_model(3), (probabilities, np.array([0, 1, 0, 1])),
                                 class_names=CLASS_NAMES)
    assert report.per_class[2]["support"] == 0
    assert any("No examples of: bird" in note for note in report.notes)


def test_one_sigmoid_unit_gives_two_class_probabilities():
    p_class_1 = np.array([[0.9], [0.2], [0.6], [0.4]], dtype="float32")
    labels = np.array([1, 0, 0, 0])
    report = evaluate_classifier(echo_model(1), batched(p_class_1, labels),
                                 class_names=["ant", "bee"])
    np.testing.assert_allclose(report.probabilities[:, 1], p_class_1[:, 0], rtol=1e-6)
    np.testing.assert_allclose(report.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(report.y_pred, [1, 0, 1, 0])
    assert report.accuracy == 0.75
    assert report.confusion_matrix.shape == (2, 2)


def test_logits_head_gets_softmax():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="predictions")])
    model.get_layer("predictions").set_weights([np.eye(3), np.zeros(3)])
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], dtype="float32")
    report = evaluate_classifier(model, (logits, np.array([0, 1])))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(report.probabilities, expected, rtol=1e-5)


def test_model_from_build_classifier():
    model = build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    images = np.random.default_rng(0).uniform(0, 255, (12, 32, 32, 3)).astype("float32")
    labels = np.arange(12) % 3
    report = evaluate_classifier(model, batched(images, labels), class_names=CLASS_NAMES)
    assert report.confusion_matrix.sum() == 12
    assert report.probabilities.shape == (12, 3)


def test_inference_is_traced_once_per_model_sees_new_weights_and_lets_the_model_go():
    """Evaluating a model again reuses its trace; the trace reads the current
    weights; the cache does not keep a model alive."""
    import gc
    import weakref

    from transfer_keras import baselines
    from transfer_keras import features as tk_features
    model = build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    images = np.random.default_rng(0).uniform(0, 255, (10, 32, 32, 3)).astype("float32")
    data = batched(images, np.arange(10) % 3, batch_size=4)  # batches of 4, 4 and 2
    head = model.get_layer("predictions")
    rng = np.random.default_rng(1)
    head.set_weights([rng.normal(0, 10, w.shape).astype("float32") for w in head.get_weights()])
    first = evaluate_classifier(model, data).probabilities
    assert not np.allclose(first, 1 / 3, atol=0.01)
    evaluate_classifier(model, data)
    assert traced_inference(model).experimental_get_tracing_count() == 1

    # Features: extract_features, stage 1 and the linear probe share one trace,
    # and give the same numbers as a separate feature model run by Keras.
    features, _ = tk_features.extract_features(model, data)
    np.testing.assert_array_equal(baselines.pooled_features(model, images, batch_size=4),
                                  features)
    expected = tk_features.build_feature_extractor(model).predict(images, batch_size=4, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    assert traced_inference(model, features=True).experimental_get_tracing_count() == 1

    # New weights are seen by the cached function.
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    again = evaluate_classifier(model, data).probabilities
    assert not np.allclose(again, first)
    np.testing.assert_allclose(again, 1 / 3, rtol=1e-6)  # zero weights: uniform softmax
    assert traced_inference(model).experimental_get_tracing_count() == 1

    # A changed structure is traced again: with the head's softmax swapped for
    # a linear output (logits), evaluation applies the softmax itself and the
    # probabilities stay those of the model (a stale trace would apply it twice).
    head.set_weights([rng.normal(0, 10, w.shape).astype("float32") for w in head.get_weights()])
    before = evaluate_classifier(model, data).probabilities
    head.activation = keras.activations.linear
    np.testing.assert_allclose(evaluate_classifier(model, data).probabilities, before,
                               rtol=1e-5, atol=1e-6)

    # Arrays take the same trace (not Keras's predict, which would trace again),
    # batch_size at a time, and give what Keras's predict gives.
    model.predict = lambda *args, **kwargs: pytest.fail("Keras's predict traces again")
    from_arrays = evaluate_classifier(model, (images, np.arange(10) % 3), batch_size=3)
    probabilities = predict_probabilities(model, images, batch_size=4)
    del model.predict
    np.testing.assert_allclose(from_arrays.probabilities,
                               evaluate_classifier(model, data).probabilities, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(probabilities,
                               keras.activations.softmax(model.predict(images, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    assert traced_inference(model).experimental_get_tracing_count() == 1  # one, since the swap

    alive = weakref.ref(model)
    del model, head
    gc.collect()
    assert alive() is None, "the inference cache kept the model alive"


def test_errors_name_the_argument(fixed_predictions):
    probabilities, labels = fixed_predictions
    with pytest.raises(ValueError, match="`class_names` must name the 3 classes"):
        evaluate_classifier(echo_model(3), (probabilities, labels), class_names=["cat", "dog"])
    with pytest.raises(ValueError, match="one sigmoid unit"):
        evaluate_classifier(echo_model(1), (probabilities[:, :1], labels),
                            class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"received label\(s\) \[5\]"):
        evaluate_classifier(echo_model(3), (probabilities[:2], np.array([0, 5])))
    with pytest.raises(ValueError, match="40 images and 39 labels"):
        evaluate_classifier(echo_model(3), (probabilities, labels[:-1]))
    with pytest.raises(TypeError, match="received ndarray"):
        evaluate_classifier(echo_model(3), probabilities)
    with pytest.raises(ValueError, match=r"must have shape \(n, 3\) for this model; "
                                         r"received \(40, 2\)"):
        evaluate_classifier(echo_model(3), (probabilities[:, :2], labels))
    with pytest.raises(ValueError, match="`images` holds no images"):
        evaluate_classifier(echo_model(3), (probabilities[:0], labels[:0]))
    with pytest.raises(ValueError, match="`batch_size` must be"):
        evaluate_classifier(echo_model(3), (probabilities, labels), batch_size=0)


def test_labels_that_are_not_class_numbers_are_refused(fixed_predictions):
    # 0.5 used to become class 0 without a word (astype): "Accuracy 1.0000".
    probabilities, labels = fixed_predictions
    model = echo_model(3)
    for bad, match in [(labels * 0.5, r"not \(e\.g\. \[0\.5"),
                       (np.where(labels == 0, np.nan, labels), "not"),
                       (labels - 1, "from 0 up; received -1")]:
        with pytest.raises(ValueError, match=match):
            evaluate_classifier(model, (probabilities, bad))
    for bad, match in [(np.array(CLASS_NAMES)[labels], "Turn class names into numbers"),
                       (labels == 1, "booleans")]:  # a wrong type: TypeError
        with pytest.raises(TypeError, match=match):
            evaluate_classifier(model, (probabilities, bad))
    as_floats = evaluate_classifier(model, (probabilities, labels.astype("float64")))
    assert as_floats.accuracy == evaluate_classifier(model, (probabilities, labels)).accuracy


def test_models_built_elsewhere_logits_are_read_and_non_probabilities_refused():
    # A plain Dense(3) output layer (no "predictions" name) gives logits: predict used to
    # print them as probabilities ("1 (-48.647)").
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    dense.layers[-1].set_weights([np.eye(3), np.zeros(3)])
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], dtype="float32")
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predict_probabilities(dense, logits), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="not probabilities.*End the model in a softmax"):
        predict_probabilities(echo_model(3), logits)  # a layer that hides what it gives
    softmax_after = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3),
                                      keras.layers.Softmax()])
    assert predict_probabilities(softmax_after, logits).sum(axis=1) == pytest.approx([1, 1])


def test_predict_probabilities_takes_arrays_and_lists_and_explains_the_rest():
    gray = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(2, activation="softmax", name="predictions")])
    images = np.random.default_rng(0).uniform(0, 255, (5, 4, 4)).astype("float32")
    expected = gray.predict(images[..., None], verbose=0)
    # Grayscale (n, h, w) for a one-channel model, a list, and batch_size=None (32).
    np.testing.assert_allclose(predict_probabilities(gray, images), expected, rtol=1e-6)
    np.testing.assert_allclose(predict_probabilities(gray, list(images[..., None]),
                                                     batch_size=None), expected, rtol=1e-6)
    with pytest.raises(TypeError, match="received a tf.data.Dataset.*evaluate_classifier"):
        predict_probabilities(gray, batched(images, np.arange(5)))
    with pytest.raises(TypeError, match="must hold numbers"):
        predict_probabilities(gray, np.array([["a"]] * 5))
    with pytest.raises(ValueError, match=r"\(n, 4, 4, 1\) for this model; received "
                                         r"\(5, 8, 8, 1\). Resize.*image_size=\(4, 4\), channels=1"):
        predict_probabilities(gray, np.zeros((5, 8, 8, 1)))
    with pytest.raises(ValueError, match="holds no images"):
        predict_probabilities(gray, [])


# --------------------------------------------------------------------------- cross_validate


def tiny_classifier(units=3):
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(units, activation="softmax" if units > 1
                                               else "sigmoid", name="predictions")]
    )


@pytest.fixture
def imbalanced():
    """27 examples: 12 of class 0, 6 of class 1, 9 of class 2 (all divisible by 3)."""
    labels = np.array([0] * 12 + [1] * 6 + [2] * 9)
    features = np.random.default_rng(0).normal(size=(27, 4)).astype("float32")
    features[:, 0] += labels  # learnable
    return features, labels


def test_cross_validate_folds_are_stratified_disjoint_and_cover_all(imbalanced):
    features, labels = imbalanced
    result = cross_validate(tiny_classifier, features, labels, k=3, epochs=1, batch_size=8)
    assert isinstance(result, CrossValidationResult)
    assert len(result.folds) == len(result.reports) == len(result.table) == 3
    all_val = np.concatenate([val for _, val in result.folds])
    np.testing.assert_array_equal(np.sort(all_val), np.arange(27))  # each sample once
    for train_index, val_index in result.folds:
        assert not set(train_index) & set(val_index)
        assert len(train_index) + len(val_index) == 27
        np.testing.assert_array_equal(np.bincount(labels[val_index]), [4, 2, 3])
    accuracies = result.table.column("accuracy")
    assert result.mean["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result.std["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert result.table.column("test size") == [9, 9, 9]
    assert result.table.column("train size") == [18, 18, 18]  # no train_fn: all of it
    assert result.table.column("val size") == [0, 0, 0]
    assert str(result).startswith("accuracy ")
    assert "over 3 folds" in result.summary and "±" in result.summary
    assert "<table>" in result._repr_html_()
    assert json.loads(json.dumps(result.to_dict()))["mean"] == result.mean


def test_cross_validate_uses_train_fn_and_compiles(imbalanced):
    features, labels = imbalanced
    calls = []

    def train_fn(model, train_images, train_labels, val_images, val_labels):
        assert model.optimizer is not None  # compiled for us
        calls.append((len(train_images), len(train_labels), len(val_images),
                      len(val_labels)))
        return "trained"

    result = cross_validate(tiny_classifier, features, labels, k=3, train_fn=train_fn)
    assert calls == [(14, 14, 4, 4)] * 3  # the 18 training examples: 14 train + 4 val
    assert result.histories == ["trained"] * 3
    assert result.table.column("val size") == [4, 4, 4]


def test_cross_validate_never_shows_the_scored_fold_to_train_fn(imbalanced):
    features, labels = imbalanced
    features = features.copy()
    features[:, 3] = np.arange(len(labels))  # each example carries its own index
    seen = []

    def spy(model, train_images, train_labels, val_images, val_labels):
        seen.append((train_images[:, 3].astype(int), val_images[:, 3].astype(int)))
        model.fit(train_images, train_labels, epochs=1, verbose=0)

    result = cross_validate(tiny_classifier, features, labels, k=3, train_fn=spy)
    for (train_index, test_index), val_index, (trained, watched) in zip(
            result.folds, result.val_folds, seen):
        assert not set(trained) & set(test_index)  # the scored fold is never trained on
        assert not set(watched) & set(test_index)  # ...nor used for early stopping
        assert not set(trained) & set(watched)
        assert sorted(set(trained) | set(watched)) == sorted(train_index)
        np.testing.assert_array_equal(np.sort(watched), val_index)
        assert np.array_equal(np.bincount(labels[watched], minlength=3) > 0, [True] * 3)
    scored = np.concatenate([test_index for _, test_index in result.folds])
    np.testing.assert_array_equal(np.sort(scored), np.arange(27))  # each scored once


def test_cross_validate_with_one_sigmoid_unit():
    labels = np.array([0, 1] * 6)
    features = np.random.default_rng(1).normal(size=(12, 4)).astype("float32")
    result = cross_validate(lambda: tiny_classifier(1), features, labels, k=2, epochs=1)
    assert result.reports[0].confusion_matrix.shape == (2, 2)
    assert result.reports[0].probabilities.shape == (6, 2)


def test_cross_validate_errors(imbalanced):
    features, labels = imbalanced
    with pytest.raises(ValueError, match="`k` must be a whole number of folds >= 2"):
        cross_validate(tiny_classifier, features, labels, k=1)
    with pytest.raises(ValueError, match="6 examples of class 'dog'"):
        cross_validate(tiny_classifier, features, labels, k=7, class_names=CLASS_NAMES)
    with pytest.raises(ValueError, match="label 1"):
        cross_validate(tiny_classifier, features, labels, k=7)
    with pytest.raises(ValueError, match="27 images and 26 labels"):
        cross_validate(tiny_classifier, features, labels[:-1], k=3)
    with pytest.raises(ValueError, match="`val_fraction`"):
        cross_validate(tiny_classifier, features, labels, k=3, val_fraction=1.0)
    built = []

    def counting(units=3):
        built.append(units)
        return tiny_classifier(units)

    with pytest.raises(ValueError, match="one class only"):
        cross_validate(tiny_classifier, features, np.zeros_like(labels), k=3)
    with pytest.raises(ValueError, match=r"received label\(s\) \[3\]"):  # 1, 2, 3: not from 0
        cross_validate(counting, features, labels + 1, k=3)
    assert built == [3]  # refused on the first new model, before any training
    with pytest.raises(TypeError, match="a function .* returns a NEW model.*Sequential"):
        cross_validate(tiny_classifier(), features, labels, k=3)
    with pytest.raises(TypeError, match="returned NoneType.*return model"):
        cross_validate(lambda: None, features, labels, k=3)
    with pytest.raises(ValueError, match="`epochs` must be"):
        cross_validate(tiny_classifier, features, labels, k=3, epochs=0)
    with pytest.raises(ValueError, match="not \\(e\\.g\\. \\[0\\.5"):
        cross_validate(tiny_classifier, features, labels * 0.5, k=3)
    with pytest.raises(ValueError, match="`val_fraction`=0.05 cannot carve"):
        cross_validate(tiny_classifier, features, labels, k=3, val_fraction=0.05,
                       train_fn=lambda *args: None)


# --------------------------------------------------------------------------- compare


def test_compare_puts_runs_side_by_side(fixed_predictions):
    probabilities, labels = fixed_predictions
    weak = evaluate_classifier(echo_model(3), (probabilities, labels))
    perfect = evaluate_classifier(echo_model(3), (np.eye(3)[labels], labels))
    table = compare({
        "frozen": weak,
        "fine-tuned": {"report": perfect, "trainable_params": 1234, "train_seconds": 2.5},
        "scratch": {"accuracy": 0.5, "train_seconds": 9.0},
    })
    assert isinstance(table, Table)
    assert table.columns == ["run", "accuracy", "macro F1", "trainable params",
                             "training time s"]
    assert table.column("run") == ["frozen", "fine-tuned", "scratch"]
    assert table.column("accuracy") == [weak.accuracy, 1.0, 0.5]
    assert table.column("macro F1") == [weak.macro_f1, 1.0, None]
    assert table[1]["trainable params"] == 1234
    assert table.notes == ["Best accuracy: fine-tuned (1.0000)."]
    assert "fine-tuned" in str(table)


def test_compare_errors(fixed_predictions):
    with pytest.raises(ValueError, match="empty"):
        compare({})
    with pytest.raises(TypeError, match="dict of run name"):
        compare([1, 2])
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['acc'\]"):
        compare({"run": {"acc": 0.9}})
    with pytest.raises(TypeError, match=r"results\['run'\]"):
        compare({"run": 0.9})
    for bad, error in [(float("nan"), ValueError), (90, ValueError), (-0.1, ValueError),
                       ("0.9", TypeError)]:  # NaN used to be named the best run
        with pytest.raises(error, match=r"\['accuracy'\]` must be a number from 0 to 1"):
            compare({"run": {"accuracy": bad}, "other": {"accuracy": 0.5}})
    with pytest.raises(ValueError, match=r"\['train_seconds'\]` must be a number >= 0"):
        compare({"run": {"accuracy": 0.5, "train_seconds": -1}})


# --------------------------------------------------------------------------- top_losses


def test_top_losses_are_the_most_confidently_wrong_in_order():
    probabilities = np.array([
        [0.90, 0.05, 0.05],  # 0: true 0, right
        [0.10, 0.80, 0.10],  # 1: true 0, wrong, loss -log 0.1
        [0.02, 0.03, 0.95],  # 2: true 1, wrong, loss -log 0.03 (worst)
        [0.30, 0.60, 0.10],  # 3: true 1, right
        [0.50, 0.30, 0.20],  # 4: true 2, wrong, loss -log 0.2
        [0.05, 0.90, 0.05],  # 5: true 2, wrong, loss -log 0.05
    ], dtype="float32")
    labels = np.array([0, 0, 1, 1, 2, 2])
    worst = top_losses(echo_model(3), batched(probabilities, labels, batch_size=4), k=3)
    assert [w.index for w in worst] == [2, 5, 1]
    assert all(isinstance(w, TopLoss) for w in worst)
    assert [w.true_label for w in worst] == [1, 2, 0]
    assert [w.predicted_label for w in worst] == [2, 1, 1]
    assert worst[0].loss == pytest.approx(-np.log(0.03), rel=1e-5)
    assert worst[0].probability == pytest.approx(0.95, rel=1e-5)
    np.testing.assert_array_equal(worst[1].image, probabilities[5])

    everything = top_losses(echo_model(3), (probabilities, labels), k=10)
    assert [w.index for w in everything] == [2, 5, 1, 4]  # only the 4 wrong ones


def test_top_losses_empty_when_all_right():
    labels = np.array([0, 1, 2])
    assert top_losses(echo_model(3), (np.eye(3, dtype="float32"), labels)) == []
    with pytest.raises(ValueError, match="`k` must be a whole number >= 1"):
        top_losses(echo_model(3), (np.eye(3, dtype="float32"), labels), k=0)


# --------------------------------------------------------------------------- the API's shape


def test_results_are_frozen(fixed_predictions):
    import dataclasses

    probabilities, labels = fixed_predictions
    report = evaluate_classifier(echo_model(3), (probabilities, labels))
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.accuracy = 1.0
    result = CrossValidationResult(Table(["fold"], []), {"accuracy": 0.5, "macro_f1": 0.5},
                                   {"accuracy": 0.0, "macro_f1": 0.0}, [], [], [])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mean = {}
    worst = top_losses(echo_model(3), (probabilities, labels), k=1)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        worst.loss = 0.0


def test_optional_arguments_are_keyword_only():
    import inspect

    from transfer_keras import evaluation, inference, interpret, plots

    for module in (evaluation, inference, interpret, plots):
        for name in module.__all__:
            function = getattr(module, name)
            if not inspect.isfunction(function):
                continue
            for parameter in inspect.signature(function).parameters.values():
                assert (parameter.default is inspect.Parameter.empty
                        or parameter.kind is inspect.Parameter.KEYWORD_ONLY), (name, parameter)
    assert "include_predictions" in str(inspect.signature(EvaluationReport.to_dict))
    with pytest.raises(TypeError):
        evaluate_classifier(echo_model(3), (np.eye(3), [0, 1, 2]), CLASS_NAMES)


def test_the_loss_is_chosen_in_one_place():
    from transfer_keras import inference, lr_finder, stages

    assert stages.loss_for is inference.loss_for is lr_finder.loss_for
    built = []

    def logits_model():
        model = tiny_classifier(1)
        model.layers[-1].activation = keras.activations.linear  # logits
        built.append(model)
        return model

    labels = np.array([0, 1] * 6)
    features = np.random.default_rng(1).normal(size=(12, 4)).astype("float32")
    cross_validate(logits_model, features, labels, k=2, epochs=1)
    loss = built[0].loss
    assert isinstance(loss, keras.losses.BinaryCrossentropy)
    assert loss.get_config()["from_logits"] is True
    softmax = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    assert not inference.loss_for(softmax).get_config()["from_logits"]


def test_evaluation_holds_scores_only():
    from transfer_keras import evaluation

    for moved in ("top_losses", "TopLoss", "predict_probabilities", "num_classes_of"):
        assert moved not in evaluation.__all__
    assert "top_losses" not in vars(evaluation) and "TopLoss" not in vars(evaluation)
