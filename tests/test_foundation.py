"""Backbone table, build_classifier, freezing and weights resolution."""

import dataclasses
import shutil
import time
import urllib.error

import h5py
import keras
import numpy as np
import pytest

import transfer_keras as tk
from transfer_keras import _keras_compat
from transfer_keras.backbones import build_backbone_with_weights



@pytest.mark.parametrize("name", list(tk.BACKBONES))
def test_every_backbone_builds_a_frozen_classifier(name):
    spec = tk.BACKBONES[name]
    size = max(spec.min_size, 32)
    model = tk.build_classifier(name, 5, input_shape=(size, size, 3), weights=None)

    assert model.output_shape == (None, 5)
    out = model.predict(np.random.uniform(0, 255, (2, size, size, 3)), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)

    pixels = np.random.uniform(0, 255, (2, size, size, 3)).astype("float32")
    inside = model.get_layer("preprocessing")(pixels)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(inside),
                               keras.ops.convert_to_numpy(spec.preprocess(pixels.copy())),
                               atol=1e-5)

    backbone = model.get_layer("backbone")
    assert backbone.trainable is False
    assert backbone.trainable_weights == []
    assert model.get_layer("predictions").trainable

    assert len(backbone.output_shape) == 4
    feature_width = backbone.output_shape[-1]
    assert feature_width == spec.feature_width  # the table says what the build gives
    summary = tk.trainable_summary(model)
    assert summary.total_trainable == feature_width * 5 + 5
    assert summary.total_frozen == backbone.count_params()
    row = {r["part"]: r for r in summary.rows}["backbone"]
    assert row["trainable params"] == 0 and row["trainable layers"] == 0


def test_binary_heads():
    sigmoid = tk.build_classifier("mobilenet", 1, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    assert sigmoid.output_shape == (None, 1)
    assert sigmoid.get_layer("predictions").activation.__name__ == "sigmoid"
    softmax = tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    assert softmax.get_layer("predictions").activation.__name__ == "softmax"


def test_hidden_units_dropout_and_names():
    model = tk.build_classifier(
        "mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25, hidden_units=(16, 8),
        augmentation=tk.build_augmentation(seed=1),
    )
    names = [layer.name for layer in model.layers]
    assert names == ["pixels", "augmentation", "preprocessing", "backbone", "pooling",
                     "dropout_1", "hidden_1", "dropout_2", "hidden_2", "dropout",
                     "predictions"]
    assert model.get_layer("predictions").dtype_policy.name == "float32"


def test_build_head_alone_builds_the_pooling_asked_for():
    features = keras.Input((4, 4, 8))
    outputs = tk.build_head(features, np.int64(3), hidden_units=(np.int64(5),), pooling="max")
    head = keras.Model(features, outputs)
    assert isinstance(head.get_layer("pooling"), keras.layers.GlobalMaxPooling2D)
    assert head.output_shape == (None, 3) and head.get_layer("hidden_1").units == 5
    one_unit = keras.Model(features, tk.build_head(features, 1, dropout=0))
    assert one_unit.get_layer("predictions").activation.__name__ == "sigmoid"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pooling="avgg"), r"`pooling` must be one of 'avg', 'max'; received 'avgg'"),
        (dict(pooling=None), r"`pooling`"),  # a TypeError (not a str): see below
        (dict(dropout=1.0), r"`dropout` must be a rate in \[0, 1\)"),
        (dict(hidden_units=(8, 0)), r"`hidden_units` must be positive whole numbers"),
        (dict(hidden_units=(8.0,)), r"`hidden_units`"),
        (dict(num_classes=0), r"`num_classes` must be a whole number >= 1"),
        (dict(num_classes=True), r"`num_classes`"),  # a TypeError
        (dict(classifier_activation="relu"), r"`classifier_activation`"),
        (dict(features=keras.Input((8,))), r"`features` must be a 4-D feature map"),
    ],
)
def test_build_head_checks_its_arguments(kwargs, match):
    arguments = dict(features=keras.Input((4, 4, 8)), num_classes=3)
    arguments.update(kwargs)
    wrong_type = kwargs in (dict(pooling=None), dict(num_classes=True))
    with pytest.raises(TypeError if wrong_type else ValueError, match=match):
        tk.build_head(**arguments)


def _is_built_in(layer):
    return type(layer).__module__.startswith("keras.")


@pytest.mark.parametrize("name", list(tk.BACKBONES))
def test_preprocessing_matches_the_backbone_function(name):
    spec = tk.BACKBONES[name]
    preprocessing = tk.build_preprocessing(name)
    pixels = np.random.uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    pixels[0, 0, 0], pixels[0, 0, 1] = 0, 255  # the ends of the range
    expected = keras.ops.convert_to_numpy(spec.preprocess(pixels.copy()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(preprocessing(pixels)),
                               expected, atol=1e-5)
    assert preprocessing.name == "preprocessing"
    assert preprocessing.layers and all(_is_built_in(layer) for layer in preprocessing.layers)


def test_preprocessing_inside_the_model_is_built_in_keras():
    model = tk.build_classifier("mobilenetv2", 2, input_shape=(32, 32, 3), weights=None)
    preprocessing = model.get_layer("preprocessing")
    assert all(_is_built_in(layer) for layer in preprocessing.layers)
    pixels = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    inside = preprocessing(pixels)
    expected = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(np.asarray(inside), expected, atol=1e-6)
    assert float(np.min(inside)) >= -1 and float(np.max(inside)) <= 1


def test_backbone_name_of_new_and_scratch_models():
    from transfer_keras.models import backbone_name

    model = tk.build_classifier("mobilenetv2", 2, input_shape=(32, 32, 3), weights=None)
    assert backbone_name(model) == "mobilenetv2"
    scratch = tk.build_scratch_classifier("mobilenet", 2, input_shape=(32, 32, 3), alpha=0.25)
    assert backbone_name(scratch) == "mobilenet"
    scratch.name = "my_model"
    with pytest.raises(ValueError, match="'my_model'.*backbone name"):
        backbone_name(scratch)
    # a backbone whose own name holds "_" (it used to answer with a ValueError)
    lite = tk.build_classifier("efficientnet_lite0", 2, input_shape=(32, 32, 3), weights=None)
    assert backbone_name(lite) == "efficientnet_lite0"


def _fit_once(model, size=32, steps=3):
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy")
    x = np.random.uniform(0, 255, (8, size, size, 3)).astype("float32")
    y = np.arange(8) % model.output_shape[-1]
    model.fit(x, y, batch_size=4, epochs=steps, verbose=0)


def test_unfreeze_keeps_batchnorm_frozen_and_trains_kernels():
    model = tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    tk.unfreeze_backbone(model, num_layers=10)
    backbone = model.get_layer("backbone")
    batchnorms = [l for l in backbone.layers if isinstance(l, keras.layers.BatchNormalization)]
    unfrozen = [l for l in backbone.layers[-10:] if isinstance(l, keras.layers.Conv2D)
                or isinstance(l, keras.layers.DepthwiseConv2D)]
    frozen = [l for l in backbone.layers[:-10] if isinstance(l, keras.layers.Conv2D)]
    assert batchnorms and unfrozen and frozen
    assert not any(l.trainable for l in batchnorms)

    # Give the BatchNorm statistics non-trivial values so a change would show.
    for layer in batchnorms:
        layer.moving_mean.assign(np.random.uniform(-1, 1, layer.moving_mean.shape))
    means = [keras.ops.convert_to_numpy(l.moving_mean) for l in batchnorms]
    gammas = [keras.ops.convert_to_numpy(l.gamma) for l in batchnorms]
    unfrozen_kernels = [keras.ops.convert_to_numpy(l.weights[0]) for l in unfrozen]
    frozen_kernels = [keras.ops.convert_to_numpy(l.weights[0]) for l in frozen]

    _fit_once(model)

    for layer, before in zip(batchnorms, means):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), before)
    for layer, before in zip(batchnorms, gammas):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.gamma), before)
    assert any(not np.array_equal(keras.ops.convert_to_numpy(l.weights[0]), k)
               for l, k in zip(unfrozen, unfrozen_kernels))
    for layer, before in zip(frozen, frozen_kernels):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.weights[0]), before)


def test_unfreeze_options_and_refreeze():
    model = tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    layers = model.get_layer("backbone").layers
    tk.unfreeze_backbone(model, from_layer="conv_dw_13")
    start = [l.name for l in layers].index("conv_dw_13")
    assert all(not l.trainable for l in layers[:start])
    assert layers[start].trainable
    tk.unfreeze_backbone(model, fraction=0.5)
    trainable_non_bn = [l for l in layers if l.trainable]
    assert all(layers.index(l) >= len(layers) // 2 for l in trainable_non_bn)
    tk.unfreeze_backbone(model)  # everything but BatchNorm
    assert all(l.trainable != isinstance(l, keras.layers.BatchNormalization)
               for l in layers if l.weights)
    tk.freeze_backbone(model)
    assert tk.trainable_summary(model).total_trainable == 256 * 2 + 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_layers=0), "num_layers"),
        (dict(num_layers=10_000), "num_layers"),
        (dict(from_layer="nope"), "from_layer"),
        (dict(fraction=1.5), "fraction"),
        (dict(num_layers=3, fraction=0.5), "only one"),
    ],
)
def test_unfreeze_rejects_bad_arguments(kwargs, match):
    model = tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    with pytest.raises(ValueError, match=match):
        tk.unfreeze_backbone(model, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(backbone="resnet9000"), r"Unknown backbone 'resnet9000'.*mobilenetv2"),
        (dict(num_classes=0), r"`num_classes`.*received 0"),
        (dict(input_shape=(16, 16, 3)), r"`input_shape`.*too small.*at least 32"),
        (dict(backbone="xception", input_shape=(64, 64, 3)), r"at least 71"),
        (dict(input_shape=(32, 32, 1)), r"3 channels.*received 1.*grayscale"),
        (dict(weights="/no/such/file.h5"), r"`weights`.*does not exist"),
        (dict(pooling="mean"), r"`pooling`"),
        (dict(dropout=1.5), r"`dropout`"),
        (dict(alpha_typo=2), r"Unknown argument.*alpha_typo"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    arguments = dict(backbone="mobilenetv2", num_classes=3, input_shape=(32, 32, 3),
                     weights=None)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tk.build_classifier(**arguments)


def test_build_augmentation_crops_at_random_in_training_and_leaves_inference_alone():
    ramp = np.tile(np.arange(32, dtype="float32") * 8, (32, 1))  # brighter to the right
    images = np.repeat(np.stack([ramp] * 3, axis=-1)[None], 8, axis=0)
    augment = tk.build_augmentation(flip=False, rotation=0, zoom=0, contrast=0, crop=0.5, seed=0)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    cropped = np.asarray(augment(images, training=True))
    assert cropped.shape == images.shape
    # A window of 50-100% of each side, scaled back up to 32 pixels: the ramp
    # (8 grey levels per pixel) gets flatter, never steeper (no zooming out).
    slope = np.abs(np.diff(cropped[:, :, 12:20, 0], axis=2)).mean(axis=(1, 2))
    assert np.all(slope < 8 + 0.01) and np.all(slope > 4 - 0.01) and slope.min() < 7
    # ... and the windows sit at different places.
    assert np.ptp(cropped[:, 16, 16, 0]) > 8
    assert [type(layer).__name__ for layer in tk.build_augmentation(seed=0).layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast"]  # crop=0: none


@pytest.mark.parametrize("crop, error", [(1.0, ValueError), (-0.1, ValueError),
                                         ("0.2", TypeError), (None, TypeError)])
def test_build_augmentation_checks_crop(crop, error):
    with pytest.raises(error, match="`crop` must be a fraction of each side in \\[0, 1\\)"):
        tk.build_augmentation(crop=crop)


def test_imagenet_offline_gives_a_helpful_error_fast(keras_home, monkeypatch):
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", no_network)
    start = time.perf_counter()
    with pytest.raises(tk.WeightsUnavailableError) as error:
        tk.build_backbone("mobilenetv2", input_shape=(96, 96, 3), weights="imagenet")
    message = str(error.value)
    assert time.perf_counter() - start < 30
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5" in message
    assert str(keras_home) in message
    assert "https://storage.googleapis.com/" in message
    assert "weights=None" in message
    assert list(keras_home.iterdir()) == []  # no half-downloaded file left behind


def _assert_kernels_match(backbone, weights_path):
    with h5py.File(weights_path, "r") as weights_file:
        for layer_name in ["conv1", "conv_dw_1", "conv_pw_13"]:
            group = weights_file[layer_name]
            names = group.attrs["weight_names"]
            expected = np.array(group[names[0]])
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(backbone.get_layer(layer_name).weights[0]), expected
            )


def _no_network(monkeypatch):
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(f"no network in this test ({url})")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", no_network)


def test_genuine_imagenet_weights_load_from_the_keras_cache(keras_home, monkeypatch):
    genuine = tk.kit.example_weights()
    shutil.copy(genuine, keras_home / genuine.name)

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", no_download)
    assert tk.cached_weights("mobilenet") == [keras_home / genuine.name]
    model = tk.build_classifier("mobilenet", 2, input_shape=(224, 224, 3), weights="imagenet",
                                alpha=0.25)
    _assert_kernels_match(model.get_layer("backbone"), genuine)
    built = build_backbone_with_weights("mobilenet", input_shape=(224, 224, 3), alpha=0.25)
    assert built.weights_file == str(keras_home / genuine.name)
    assert built.weights_requested == genuine.name
    assert tk.list_backbones()[0]["weights cached"] == "alpha 0.25 at 224 px"


def test_imagenet_at_another_size_uses_the_cached_file_of_any_size(keras_home, monkeypatch):
    genuine = tk.kit.example_weights()
    shutil.copy(genuine, keras_home / genuine.name)
    _no_network(monkeypatch)
    for size in (128, 96, 160):  # Keras asks for mobilenet_2_5_128_tf_no_top.h5 at 128
        built = build_backbone_with_weights("mobilenet", input_shape=(size, size, 3),
                                            weights="imagenet", alpha=0.25)
        _assert_kernels_match(built.model, genuine)
        assert built.weights_file == str(keras_home / genuine.name)
        asked = size if size != 96 else 224  # Keras has no 96 px file for MobileNet v1
        assert built.weights_requested == f"mobilenet_2_5_{asked}_tf_no_top.h5"


def test_imagenet_offline_falls_back_to_the_example_kit(keras_home, monkeypatch):
    _no_network(monkeypatch)  # and an empty Keras cache
    for size in (224, 128):
        built = build_backbone_with_weights("mobilenet", input_shape=(size, size, 3),
                                            weights="imagenet", alpha=0.25)
        _assert_kernels_match(built.model, tk.kit.example_weights())
        assert built.weights_file == str(tk.kit.example_weights())
        assert built.weights_requested == f"mobilenet_2_5_{size}_tf_no_top.h5"
    spelled = build_backbone_with_weights("mobilenet", input_shape=(128, 128, 3),
                                          weights="ImageNet",
                                          alpha=0.25)
    assert spelled.weights_requested == "mobilenet_2_5_128_tf_no_top.h5"  # any case works
    with pytest.raises(tk.WeightsUnavailableError, match="mobilenet_5_0_128_tf_no_top"):
        tk.build_backbone("mobilenet", input_shape=(128, 128, 3), weights="imagenet", alpha=0.5)
    assert list(keras_home.iterdir()) == []  # nothing was copied into the cache


def test_example_weights_are_checked_by_sha256(tmp_path, monkeypatch):
    (tmp_path / "imagenet").mkdir()
    damaged = tmp_path / "imagenet" / tk.kit.EXAMPLE_WEIGHTS_FILE
    damaged.write_bytes(tk.kit.example_weights().read_bytes()[:-10])
    monkeypatch.setattr(tk.kit, "kit_folder", lambda: tmp_path)
    with pytest.raises(tk.kit.KitUnavailableError, match="missing or damaged.*reinstall"):
        tk.kit.example_weights()


def test_random_weights_name_no_file():
    built = build_backbone_with_weights("mobilenet", input_shape=(32, 32, 3), weights=None,
                                        alpha=0.25)
    assert built.weights_file is None and built.weights_requested is None
    assert not hasattr(built.model, "weights_file")  # nothing is set on Keras's object
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.weights_file = "x"


def test_weights_path_round_trip(tmp_path):
    source = tk.build_backbone("mobilenet", input_shape=(32, 32, 3), weights=None, alpha=0.25)
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    loaded = tk.build_classifier("mobilenet", 4, input_shape=(64, 64, 3), weights=path, alpha=0.25)
    for a, b in zip(source.weights, loaded.get_layer("backbone").weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="does not fit"):
        tk.build_classifier("mobilenetv2", 4, input_shape=(64, 64, 3), weights=path)


def test_alpha_is_checked_and_an_alpha_without_imagenet_weights_is_explained():
    for alpha in (-1, 0, "0.25", None):  # -1 used to fail deep in Keras: "filters=-32"
        with pytest.raises(ValueError, match="`alpha` .* must be a number above 0"):
            tk.build_backbone("mobilenet", input_shape=(32, 32, 3), weights=None, alpha=alpha)
    with pytest.raises(ValueError, match=r"No ImageNet weights for backbone 'mobilenet' with "
                                         r"\{'alpha': 0.3.*alpha can be one of.*weights=None"):
        tk.build_backbone("mobilenet", input_shape=(32, 32, 3), weights="imagenet", alpha=0.3)


def test_public_api():
    assert tk.__version__
    for name in tk.__all__:
        assert hasattr(tk, name), name
