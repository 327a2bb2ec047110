"""Streaming image folders: the same report and the same images as in memory, flat memory."""

import gc
import shutil
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

from transfer_keras.data import (
    RecordArray,
    RecordFile,
    dataset_to_arrays,
    folders,
    load_image_folder,
    prepare,
)
from transfer_keras.errors import ResourceUnavailableError

pytestmark = pytest.mark.filterwarnings("ignore::transfer_keras.data.DataWarning")


def _noise(path, seed, size=(40, 30), mode="RGB", fmt="JPEG", **kwargs):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path, fmt, **kwargs)
    return path


def _messy_split_folder(root):
    """train/ and val/: JPEG, PNG, CMYK, grayscale, EXIF-rotated, broken and duplicate files."""
    seed = 0
    for split, per_class in (("train", 5), ("val", 2)):
        for name in ("ants", "bees"):
            for i in range(per_class):
                seed += 1
                _noise(root / split / name / f"{i}.jpg", seed, size=(40 + i, 30))
    _noise(root / "train" / "ants" / "gray.png", 100, mode="L", fmt="PNG")
    _noise(root / "train" / "ants" / "cmyk.jpg", 101, mode="CMYK")
    exif = Image.Exif()
    exif[0x0112] = 6
    _noise(root / "train" / "bees" / "rotated.jpg", 102, size=(50, 20), exif=exif)
    _noise(root / "train" / "bees" / "rgba.png", 103, mode="RGBA", fmt="PNG")
    (root / "train" / "bees" / "notes.jpg").write_text("not an image")
    data = (root / "train" / "ants" / "0.jpg").read_bytes()
    (root / "val" / "ants" / "leak.jpg").write_bytes(data)  # leakage across splits
    (root / "train" / "bees" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return root


def _load(root, mode, **kwargs):
    return load_image_folder(root, (24, 20), batch_size=4, seed=3, mode=mode, **kwargs)


def test_streaming_gives_the_same_report_and_images_as_memory(tmp_path):
    root = _messy_split_folder(tmp_path / "photos")
    memory, streaming = _load(root, "memory"), _load(root, "streaming")
    assert memory.report.mode == "memory" and streaming.report.mode == "streaming"
    as_memory = dict(streaming.report.to_dict(), mode="memory")
    assert as_memory == memory.report.to_dict()  # every skip, duplicate and warning
    assert any("leakage" in text for text in streaming.report.warnings)
    assert "Mode: streaming" in str(streaming.report)
    assert "Mode: memory" in str(memory.report)
    for split in ("train", "val"):
        np.testing.assert_array_equal(getattr(streaming.report, f"{split}_images"),
                                      getattr(memory.report, f"{split}_images"))
    # The same batches in the same (shuffled) order, epoch after epoch.
    for _ in range(2):
        for ds_memory, ds_streaming in [(memory.train_ds, streaming.train_ds),
                                        (memory.val_ds, streaming.val_ds)]:
            images, labels = dataset_to_arrays(ds_streaming)
            expected_images, expected_labels = dataset_to_arrays(ds_memory)
            assert images.dtype == np.float32 and labels.dtype == np.int32
            np.testing.assert_array_equal(images, expected_images)
            np.testing.assert_array_equal(labels, expected_labels)
    assert streaming.train_ds.element_spec == memory.train_ds.element_spec
    # ... and the order `prepare` gives the arrays, so results do not depend on the loader.
    fresh = _load(root, "memory")  # (the datasets above have made four passes already)
    by_prepare = prepare((fresh.report.train_images, fresh.report.train_labels),
                         batch_size=4, shuffle=True, seed=3)
    for _ in range(2):
        for (images, labels), (expected, expected_labels) in zip(fresh.train_ds, by_prepare):
            np.testing.assert_array_equal(images.numpy(), expected.numpy())
            np.testing.assert_array_equal(labels.numpy(), expected_labels.numpy())


@pytest.mark.parametrize("mode", ["memory", "streaming"])
def test_the_report_hands_out_copies_the_datasets_never_see(tmp_path, mode):
    root = _messy_split_folder(tmp_path / "photos")
    data = load_image_folder(root, (24, 20), batch_size=64, mode=mode, shuffle=False)
    before = dataset_to_arrays(data.train_ds)[0]
    images = data.report.train_images
    images[:] = 0  # a user's change to the array they were given
    assert data.report.train_images.any()  # a fresh copy on every access
    np.testing.assert_array_equal(dataset_to_arrays(data.train_ds)[0], before)


def test_auto_mode_streams_large_folders_and_the_datasets_outlive_the_report(
        tmp_path, monkeypatch):
    root = tmp_path / "photos"
    for i in range(6):
        _noise(root / "a" / f"{i}.jpg", i)
        _noise(root / "b" / f"{i}.jpg", 10 + i)
    assert _load(root, "auto").report.mode == "memory"
    monkeypatch.setattr(folders, "STREAMING_THRESHOLD_BYTES", 5 * 24 * 20 * 3)
    data = _load(root, "auto", cache_dir=tmp_path)
    assert data.report.mode == "streaming"
    assert list(tmp_path.iterdir()) == [root]  # the temporary file has no name
    expected = data.report.train_images.astype(np.float32)
    train_ds = load_image_folder(root, (24, 20), mode="streaming", shuffle=False).train_ds
    gc.collect()  # the report is gone; its temporary file must live on with the dataset
    np.testing.assert_array_equal(dataset_to_arrays(train_ds)[0], expected)


def test_streaming_checks_the_disk_space_and_the_arguments(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    for i in range(2):
        _noise(root / "a" / f"{i}.jpg", i)
        _noise(root / "b" / f"{i}.jpg", 10 + i)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10, 10, 100))
    with pytest.raises(ResourceUnavailableError, match="disk space.*cache_dir="):
        _load(root, "streaming")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        _load(root, "disk")
    with pytest.raises(ValueError, match="`cache_dir`.*is not a folder"):
        _load(root, "streaming", cache_dir=tmp_path / "missing")
    monkeypatch.undo()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _load(root, "streaming", cache_dir="~").report.num_images == 4  # ~ expanded


@pytest.mark.parametrize("make", [lambda: RecordFile((2, 3), np.float32),
                                  lambda: RecordArray((2, 3), np.float32, capacity=5)],
                         ids=["RecordFile", "RecordArray"])
def test_records_read_back_what_was_written(make):
    records = make()
    values = np.arange(30, dtype=np.float32).reshape(5, 2, 3)
    assert records.append(values[:2]) == 0 and records.append(values[2]) == 2
    records.append(values[3:])
    assert len(records) == 5
    np.testing.assert_array_equal(records.read([4, 0, 2]), values[[4, 0, 2]])
    np.testing.assert_array_equal(records.read_all(), values)
    batches = list(records.dataset([3, 1, 4], np.array([7, 8, 9]), batch_size=2))
    np.testing.assert_array_equal(batches[0][0].numpy(), values[[3, 1]])
    np.testing.assert_array_equal(batches[1][1].numpy(), [9])
    with pytest.raises(ValueError, match="shape"):
        make().append(np.zeros((2, 2)))


def test_record_array_keeps_its_bounds():
    records = RecordArray((2, 3), np.float32, capacity=2)
    records.append(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="at most 2 records"):
        records.append(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="0..1"):
        records.read([2])
    half = RecordArray((2, 3), np.float32, capacity=4)
    half.append(np.zeros((2, 2, 3)))
    with pytest.raises(IndexError, match="0..1"):
        half.read([2])  # room reserved but never written is not a record
