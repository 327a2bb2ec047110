"""Shared fixtures: where ../shared is, quiet TensorFlow, seeded tests."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import transfer_keras  # noqa: E402, F401  (first: it starts TensorFlow quietly)
import keras  # noqa: E402
import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
SHARED_PHOTOS = SHARED / "data" / "hymenoptera_data"

needs_shared_weights = pytest.mark.skipif(
    not SHARED_WEIGHTS.is_file(),
    reason=f"needs the genuine MobileNet weights at {SHARED_WEIGHTS} (../shared is absent)",
)
needs_shared_photos = pytest.mark.skipif(
    not SHARED_PHOTOS.is_dir(),
    reason=f"needs the ants/bees photos at {SHARED_PHOTOS} (../shared is absent)",
)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A temporary, empty Keras home (KERAS_HOME) for the duration of a test.

    Keras reads KERAS_HOME once at import, so the already-imported config is
    patched too. Returns the `models/` folder inside it.
    """
    from keras.src.backend import config

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    return models
