"""Where ../shared is, and skip markers for tests that need it."""

from pathlib import Path

import pytest

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
