"""The cached frozen prefix: where a backbone is cut, and that training on the cache
is training the model."""

import keras
import numpy as np
import pytest

import transfer_keras as tk
from transfer_keras import features, layout

SIZE = 64


def _lite(**kwargs):
    return tk.build_classifier("efficientnet_lite0", 2, input_shape=(SIZE, SIZE, 3), weights=None,
                               **kwargs)


def _one_batch(count=8):
    images = np.random.default_rng(1).uniform(0, 255, (count, SIZE, SIZE, 3))
    labels = np.arange(count) % 2
    return tk.prepare((images.astype("float32"), labels), batch_size=count)


@pytest.mark.parametrize("from_layer, cut_layer", [
    ("block6a_expand_conv", "block5c_add"),   # a block's first layer: cut just below it
    ("block6a_dwconv", "block6a_expand_activation"),  # inside a block without a skip
    ("block6b_dwconv", "block6a_project_bn"),  # inside a residual block: its input too
])
def test_the_cut_is_the_highest_clean_place_below_the_trainable_layers(from_layer,
                                                                        cut_layer):
    model = _lite()
    tk.unfreeze_backbone(model, from_layer=from_layer)
    split = features.frozen_prefix(model)
    assert split.cut_layer == cut_layer
    trainable = {id(w) for w in model.trainable_weights}
    assert {id(w) for w in split.top.trainable_weights} == trainable
    assert not split.prefix.trainable_weights


def test_the_two_halves_compute_the_model():
    model = _lite()
    tk.unfreeze_backbone(model, from_layer="block6b_dwconv")
    split = features.frozen_prefix(model)
    images = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    whole = model(images, training=False)
    halves = split.top(split.prefix(images, training=False), training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(halves),
                               keras.ops.convert_to_numpy(whole), rtol=1e-5, atol=1e-6)


def test_nothing_to_cache_when_the_whole_backbone_trains():
    model = _lite()
    assert features.frozen_prefix(tk.unfreeze_backbone(model)) is None
    assert features.frozen_prefix(tk.freeze_backbone(model)) is None


@pytest.mark.parametrize("backbone, kwargs", [
    # (a random MobileNet-0.25 outputs features of about 0: nothing would learn)
    ("mobilenet", {"alpha": 0.25, "weights": tk.kit.example_weights()}),
    ("efficientnet_lite0", {"weights": None}),
])
def test_one_epoch_on_the_cache_gives_the_weights_of_the_full_path(backbone, kwargs):
    """One batch per epoch and no dropout: the batch order and the head's randomness
    cannot differ, so both paths must take the same step."""
    def train(feature_cache):
        tk.set_seed(0)
        model = tk.build_classifier(backbone, 2, input_shape=(SIZE, SIZE, 3), dropout=0.0, **kwargs)
        data = _one_batch()
        tk.train_head(model, data, data, epochs=1, verbose=0)
        before = model.get_weights()
        history = tk.fine_tune(model, data, data, epochs=1, fraction=0.3, patience=0,
                               learning_rate=1e-2, feature_cache=feature_cache, verbose=0)
        return before, model.get_weights(), history

    before, cached, history = train("auto")
    _, full, full_history = train(None)
    assert history.prefix_cache == "memory" and history.cut_layer
    assert full_history.prefix_cache is None
    moved = [not np.array_equal(b, a) for b, a in zip(before, cached)]
    assert sum(moved) >= 3  # the unfrozen kernels and the head learned
    for with_cache, without in zip(cached, full):
        np.testing.assert_allclose(with_cache, without, rtol=1e-4, atol=1e-6)


def test_the_cache_on_disk_trains_the_same(monkeypatch):
    def train(feature_cache):
        tk.set_seed(0)
        model = _lite(dropout=0.0)
        data = _one_batch()
        history = tk.fine_tune(model, data, data, epochs=1, from_layer="block7a_expand_conv",
                               patience=0, learning_rate=1e-2, feature_cache=feature_cache,
                               verbose=0)
        return model.get_weights(), history

    on_disk, history = train("disk")
    in_memory, _ = train("memory")
    assert history.prefix_cache == "disk"
    for a, b in zip(on_disk, in_memory):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_batchnorm_stays_frozen_and_the_bottom_does_not_move():
    model = _lite()
    tk.unfreeze_backbone(model, from_layer="block6a_expand_conv")
    backbone = layout.backbone_of(model)
    watched = [backbone.get_layer("block5c_project_conv"), backbone.get_layer("block6a_bn")]
    before = [[np.array(w) for w in layer.weights] for layer in watched]
    data = _one_batch()
    history = tk.fine_tune(model, data, data, epochs=2, from_layer="block6a_expand_conv",
                           learning_rate=1e-2, patience=0, verbose=0)
    assert history.cut_layer == "block5c_add"
    for layer, old in zip(watched, before):  # frozen conv; BatchNorm statistics
        for weight, value in zip(layer.weights, old):
            np.testing.assert_array_equal(np.array(weight), value)


def test_augmentation_falls_back_to_the_full_model_and_says_so(capsys):
    model = _lite()
    data = _one_batch()
    history = tk.fine_tune(model, data, data, epochs=1, from_layer="block7a_expand_conv",
                           augment=tk.build_augmentation(seed=0), patience=0, verbose=1)
    assert history.prefix_cache is None
    assert "augmented" in capsys.readouterr().out


def test_feature_cache_takes_a_place_or_none():
    model = _lite()
    with pytest.raises(ValueError, match="`feature_cache`.*received 'yes'"):
        tk.fine_tune(model, _one_batch(), epochs=1, feature_cache="yes")
    with pytest.raises(TypeError, match="`feature_cache`"):  # True: not a place
        tk.train_two_stage(model, _one_batch(), feature_cache=True)
