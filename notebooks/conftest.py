"""nbval runs every notebook; the one that needs ../shared skips, with a reason, without it."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
NEEDS_SHARED = {"06_real_photos_imagenet.ipynb"}


def pytest_collection_modifyitems(config, items):
    if (SHARED / "weights").is_dir() and (SHARED / "data").is_dir():
        return
    skip = pytest.mark.skip(
        reason=f"needs the ImageNet MobileNet weights and ants/bees photos in {SHARED} "
        f"(absent here); with internet, run the notebook by hand: it downloads them"
    )
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_SHARED:
            item.add_marker(skip)
