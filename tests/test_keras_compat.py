"""transfer_keras._keras_compat: the only module that touches private Keras APIs.

When a Keras upgrade breaks one of these tests, the fix belongs in
`transfer_keras/_keras_compat.py` only.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import transfer_keras
from transfer_keras import _keras_compat, data
from transfer_keras._keras_compat import (DownloadRequest, build_before_fit, keras_home,
                                          recording_downloads)
from transfer_keras.backbones import keras_cache_dir

PACKAGE = Path(transfer_keras.__file__).parent


def test_only_the_compat_module_uses_private_keras_apis():
    users = sorted(path.name for path in PACKAGE.glob("*.py")
                   if "keras.src" in path.read_text(encoding="utf-8"))
    assert users == ["_keras_compat.py"]


# --------------------------------------------------------------------------- keras_home


def test_keras_home_follows_keras_home_set_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_home() == tmp_path
    monkeypatch.setenv("KERAS_HOME", "~/elsewhere")
    assert keras_home() == Path.home() / "elsewhere"


def test_keras_home_without_the_variable_is_the_one_keras_chose(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    assert keras_home() == Path(_keras_compat.keras_config.keras_home()).expanduser()
    # Keras's own answer, not a guess at ~/.keras: change it and the resolver follows.
    monkeypatch.setattr(_keras_compat.keras_config, "_KERAS_DIR", str(tmp_path / "home"))
    assert keras_home() == tmp_path / "home"


def test_weights_and_datasets_use_the_same_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_cache_dir() == tmp_path / "models"
    assert data.keras_fashion_mnist_dir() == tmp_path / "datasets" / "fashion-mnist"


# --------------------------------------------------------------------------- downloads


def _fake_download(monkeypatch, calls):
    """Replaces the network with a function that writes a tiny file."""

    def fake_urlretrieve(origin, target, *args):
        calls.append(origin)
        Path(target).write_bytes(b"weights")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", fake_urlretrieve)


def test_recording_downloads_records_and_saves_into_keras_home(keras_home, monkeypatch):
    calls = []
    _fake_download(monkeypatch, calls)
    origin = "https://example.org/weights/some_weights.h5"
    with recording_downloads() as requests:
        path = _keras_compat.keras_file_utils.get_file(
            "some_weights.h5", origin, cache_subdir="models")
        _keras_compat.keras_file_utils.get_file(origin=origin, cache_subdir="models")
    assert Path(path) == keras_home / "some_weights.h5"
    assert calls == [origin]  # the second call found the file in the cache
    assert requests == [DownloadRequest("some_weights.h5", origin, keras_home)] * 2


def test_recording_downloads_keeps_a_cache_dir_given_by_the_caller(keras_home, tmp_path,
                                                                   monkeypatch):
    _fake_download(monkeypatch, [])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # (Keras falls back to /tmp/.keras for a folder that does not exist)
    with recording_downloads() as requests:
        path = _keras_compat.keras_file_utils.get_file(
            "file.bin", "https://example.org/file.bin", cache_dir=str(elsewhere))
    assert Path(path) == elsewhere / "datasets" / "file.bin"
    assert requests[0].folder == elsewhere / "datasets"
    assert list(keras_home.iterdir()) == []


def test_recording_downloads_creates_a_keras_home_set_after_import(tmp_path, monkeypatch):
    _fake_download(monkeypatch, [])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "new_home"))
    with recording_downloads():
        path = _keras_compat.keras_file_utils.get_file(
            "w.h5", "https://example.org/w.h5", cache_subdir="models")
    assert Path(path) == tmp_path / "new_home" / "models" / "w.h5" == keras_cache_dir() / "w.h5"


def test_the_download_line_appears_only_once_the_server_answers(keras_home, monkeypatch,
                                                                capsys):
    """Offline, "Downloading data from ..." used to be printed before every fallback to
    a cached file of another size, which read as a download; now it waits for the
    server's first answer (urlretrieve's first progress call)."""
    import urllib.error

    def offline(url, filename=None, reporthook=None, data=None):
        raise urllib.error.URLError("no network")

    def online(url, filename=None, reporthook=None, data=None):
        reporthook(0, 8192, 7)
        Path(filename).write_bytes(b"weights")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", offline)
    with recording_downloads(), pytest.raises(Exception, match="URL fetch failure"):
        _keras_compat.keras_file_utils.get_file("w.h5", "https://example.org/w.h5",
                                                cache_subdir="models")
    assert "Downloading" not in capsys.readouterr().out
    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", online)
    with recording_downloads():
        _keras_compat.keras_file_utils.get_file("w.h5", "https://example.org/w.h5",
                                                cache_subdir="models")
    assert "Downloading data from https://example.org/w.h5" in capsys.readouterr().out
    assert _keras_compat.keras_file_utils.io_utils.print_msg.__name__ == "print_msg"


def test_recording_downloads_restores_get_file_even_on_error():
    original = _keras_compat.keras_file_utils.get_file
    with recording_downloads():
        assert _keras_compat.keras_file_utils.get_file is not original
    assert _keras_compat.keras_file_utils.get_file is original

    with pytest.raises(RuntimeError, match="boom"):
        with recording_downloads():
            raise RuntimeError("boom")
    assert _keras_compat.keras_file_utils.get_file is original


# --------------------------------------------------------------------------- build_before_fit


class CountingModel(keras.Model):
    """A tiny model that counts how often TensorFlow traces its training step."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2, activation="softmax", name="predictions")
        self.traces = 0

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.traces += 1  # Python runs here only while tracing
        return super().train_step(data)


def _compiled_counting_model():
    model = CountingModel()
    model(np.zeros((1, 3), "float32"))  # built, as a library model is
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("build_first, traces", [(False, 2), (True, 1)])
def test_build_before_fit_makes_fit_trace_the_training_step_once(build_first, traces):
    # Without it, Keras creates the optimizer and metric variables during the first
    # trace, and tf.function traces again: the case this helper exists to avoid.
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.zeros((8, 3), "float32"), np.zeros(8, "int32"))).batch(4)
    model = _compiled_counting_model()
    if build_first:
        build_before_fit(model, dataset)
        assert model.optimizer.built
    model.fit(dataset, epochs=2, verbose=0)
    assert model.traces == traces


def test_build_before_fit_accepts_arrays_and_changes_no_weight():
    model = _compiled_counting_model()
    before = [weight.copy() for weight in model.get_weights()]
    build_before_fit(model, (np.zeros((4, 3), "float32"), np.zeros(4, "int32")))
    assert model.optimizer.built
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_library_training_traces_its_step_once():
    model = _compiled_counting_model()
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.zeros((8, 3), "float32"), np.zeros(8, "int32"))).batch(4)
    transfer_keras.train_from_scratch(model, dataset, dataset, epochs=2, verbose=0)
    assert model.traces == 1


def test_multi_worker_fit_puts_back_what_it_patches(monkeypatch):
    keras_tf_trainer = _keras_compat.keras_tf_trainer
    keras_reduce = keras_tf_trainer.reduce_per_replica
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    monkeypatch.setattr(_keras_compat, "_is_multi_worker", lambda strategy: True)
    with pytest.raises(RuntimeError, match="stop"):  # an error inside must restore too
        with _keras_compat.multi_worker_fit(model):
            assert keras_tf_trainer.reduce_per_replica is _keras_compat._reduce_per_replica_fixed
            assert "_maybe_symbolic_build" in vars(model)
            raise RuntimeError("stop")
    assert keras_tf_trainer.reduce_per_replica is keras_reduce
    assert "_maybe_symbolic_build" not in vars(model)


def test_multi_worker_fit_changes_nothing_without_several_workers():
    keras_tf_trainer = _keras_compat.keras_tf_trainer
    keras_reduce = keras_tf_trainer.reduce_per_replica
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    for strategy in (None, tf.distribute.MirroredStrategy(["/cpu:0"])):
        assert not _keras_compat._is_multi_worker(strategy or model.distribute_strategy)
    with _keras_compat.multi_worker_fit(model):
        assert "_maybe_symbolic_build" not in vars(model)
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    assert keras_tf_trainer.reduce_per_replica is keras_reduce
    # The fixed reduction hands everything but the multi-worker mean to Keras.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    value = tf.constant([1.0, 3.0])
    assert np.array_equal(
        _keras_compat._reduce_per_replica_fixed({"v": value}, mirrored, "mean")["v"],
        keras_reduce({"v": value}, mirrored, "mean")["v"])
