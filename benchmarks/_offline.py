"""Shared by the benchmark scripts: where ../shared is, and an offline Keras cache.

Import it before Keras or transfer_keras: Keras reads KERAS_HOME once, at import.
"""

import os
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
SHARED_PHOTOS = SHARED / "data" / "hymenoptera_data"


def seed_keras_home():
    """Points KERAS_HOME at a temporary cache holding the ../shared MobileNet weights,
    so `weights="imagenet"` works offline exactly as after a download."""
    if SHARED_WEIGHTS.is_file() and "KERAS_HOME" not in os.environ:
        home = Path(tempfile.mkdtemp(prefix="keras_home_"))
        (home / "models").mkdir()
        shutil.copy(SHARED_WEIGHTS, home / "models" / SHARED_WEIGHTS.name)
        os.environ["KERAS_HOME"] = str(home)


def have_shared():
    """True when both the ImageNet weights and the ants/bees photos are present."""
    return SHARED_WEIGHTS.is_file() and SHARED_PHOTOS.is_dir()
