"""Shared fixtures: quiet TensorFlow, seeded tests, a temporary Keras home."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import transfer_keras  # noqa: E402, F401  (first: it imports TensorFlow quietly)
import keras  # noqa: E402
import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A temporary, empty Keras home (KERAS_HOME) for the duration of a test.

    Keras itself reads KERAS_HOME once, at import; the library reads it at each
    call (`transfer_keras._keras_compat.keras_home`) and has Keras download into
    that folder, so setting the variable is enough. Returns the `models/`
    folder inside it.
    """
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    return models
