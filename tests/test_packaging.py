"""A wheel carries the example kit, and the kit is found from an installed copy."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_holds_the_kit_and_finds_it_when_installed(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path), str(REPO)], check=True, capture_output=True,
                           text=True, timeout=600)
    # Every folder of the kit is declared in pyproject.toml, so building (and every
    # `pip install`) prints none of setuptools' "Package would be ignored" warnings.
    assert "would be ignored" not in built.stdout + built.stderr
    (wheel,) = tmp_path.glob("transfer_keras-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    kit = "transfer_keras/_data/"
    assert f"{kit}imagenet/mobilenet_2_5_224_tf_no_top.h5" in names
    assert f"{kit}README.md" in names and f"{kit}hymenoptera_manifest.csv" in names
    photos = [n for n in names if n.startswith(f"{kit}hymenoptera/") and n.endswith(".jpg")]
    assert len(photos) == 397
    assert any(n.startswith(f"{kit}fashion_mnist_source/") for n in names)
    assert wheel.stat().st_size < 10_000_000

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)  # what pip install puts in site-packages
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import transfer_keras as tk; "
            "print(tk.kit.example_weights()); print(tk.kit.example_photos_folder()); "
            "print(tk.project_source_backbone().weights)")
    found = subprocess.run([sys.executable, "-c", code, str(installed)], check=True,
                           capture_output=True, text=True, timeout=300).stdout.split()
    assert all(path.startswith(str(installed)) for path in found), found
