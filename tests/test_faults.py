"""The fault-injection suite: every bad input, broken file, full disk or interrupt ends in
one of three ways, and nothing is lost or mixed.

    loaded                  the command succeeds and uses the file
    skipped and reported    the command succeeds and lists the file with its reason
    a clear error           `error: ...` naming the fix, exit 2 (the user's mistake) or
                            1 (the environment), 130 / 143 for Ctrl-C / SIGTERM;
                            never a traceback, and `--out` as it was before

Cases are numbered after the issues they come from ("15.6" is item 6 of the
reliability issue, "16.2" item 2 of the output-safety issue). Most call
`cli.main([...])` in this process; only the signal cases start a subprocess.
Count them with `pytest tests/test_faults.py --collect-only -q` (docs/reliability.md).
"""

import errno
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import transfer_keras as tk
import transfer_keras.cli as cli
import transfer_keras.cli.folders as cli_folders
import transfer_keras.cli.parser as cli_parser
import transfer_keras.cli.train as cli_train
from transfer_keras import _files, _keras_compat
from transfer_keras.callbacks import TransferHistory
from transfer_keras.training import train_head, train_two_stage

SIZE = 32


def call_main(*args):
    """Runs `cli.main(ARGS)` in this process; returns the exit code (argparse's too)."""
    try:
        return cli.main([str(arg) for arg in args])
    except SystemExit as exit_info:
        return exit_info.code


def snapshot(folder):
    """`{relative path: bytes}` of every file under `folder` (hidden ones included)."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers(folder):
    """Temporary files or folders of an interrupted write anywhere under `folder`."""
    return sorted(str(path) for path in Path(folder).rglob(".*")
                  if ".partial-" in path.name or ".old-" in path.name
                  or path.name.startswith(".model-") or path.name.startswith(".report"))


def assert_clear_error(code, capsys, expected_code, *fragments):
    error = capsys.readouterr().err
    assert code == expected_code, error
    assert "error:" in error and "Traceback" not in error, error
    for fragment in fragments:
        assert fragment in error, error
    return error


def make_images(folder, colour, count, size=SIZE, seed=0):
    """`count` noisy PNGs dominated by one colour channel (0 red, 2 blue)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + colour)
    for index in range(count):
        pixels = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        pixels[..., colour] = rng.integers(170, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """Two easy classes, "blue" and "red", of 6 noisy 32x32 PNGs each."""
    root = tmp_path_factory.mktemp("data") / "colours"
    make_images(root / "blue", 2, 6)
    make_images(root / "red", 0, 6)
    return root


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Backbone weights in a file (random, saved once): `--weights FILE` runs both
    stages like ImageNet weights, offline and fast."""
    path = tmp_path_factory.mktemp("weights") / "mobilenet_025.weights.h5"
    tk.build_backbone("mobilenet", input_shape=(SIZE, SIZE, 3), weights=None, alpha=0.25) \
        .save_weights(path)
    return path


@pytest.fixture(scope="module")
def tiny(weights_file):
    """The `train` flags of a tiny two-stage run: 32 px, one epoch per stage."""
    return ["--backbone", "mobilenet", "--alpha", "0.25", "--image-size", str(SIZE),
            "--weights", str(weights_file), "--epochs", "1", "--fine-tune-epochs", "1",
            "--batch-size", "8"]


@pytest.fixture(scope="module")
def previous_run(colours, tiny, tmp_path_factory):
    """A finished `train` run: the earlier work a new run must not destroy."""
    out = tmp_path_factory.mktemp("previous") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_train, "train_two_stage", _pretend_training)  # its files are what count
        assert call_main("train", colours, *tiny, "--out", out) == 0
    return out


def _pretend_training(model, train_ds, val_ds=None, **kwargs):
    history = keras.callbacks.History()
    history.history = {"loss": [0.7], "accuracy": [0.5], "val_loss": [0.7],
                       "val_accuracy": [0.5]}
    return TransferHistory.from_stages(history, seconds={"head": 0.0})


@pytest.fixture
def no_training(monkeypatch):
    """Skips the training itself (the slow part) in `train`: the tests that use it are
    about what happens around it (reading, checking, writing)."""
    monkeypatch.setattr(cli_train, "train_two_stage", _pretend_training)


@pytest.fixture
def earlier(previous_run, tmp_path):
    """A copy of the previous run in this test's folder, and its snapshot."""
    out = tmp_path / "run"
    shutil.copytree(previous_run, out)
    return out, snapshot(out)


# --------------------------------------------------------------------------- 15.6 data faults


@pytest.mark.parametrize("case", ["empty folder", "one class", "a class with one image",
                                  "every file corrupt", "DATA_DIR is a file"])
def test_data_that_cannot_train_is_a_clear_usage_error(case, tmp_path, tiny, capsys):
    data = tmp_path / "data"
    data.mkdir()
    if case == "one class":
        make_images(data / "red", 0, 6)
    elif case == "a class with one image":
        make_images(data / "red", 0, 6)
        make_images(data / "blue", 2, 1)
    elif case == "every file corrupt":
        for name in ("red", "blue"):
            (data / name).mkdir()
            for index in range(3):
                (data / name / f"{index}.png").write_bytes(b"\x89PNG broken")
    elif case == "DATA_DIR is a file":
        data.rmdir()
        data.write_text("not a folder\n")
    out = tmp_path / "out"
    code = call_main("train", data, *tiny, "--out", out)
    error = assert_clear_error(code, capsys, 2)
    expected = {"empty folder": "is empty", "one class": "class",
                "a class with one image": "'blue'", "every file corrupt": "no usable image",
                "DATA_DIR is a file": "is a file"}[case]
    assert expected in error
    assert not out.exists()


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory, tiny):
    """One `train` run on a folder holding odd but harmless files (one of each case)."""
    root = tmp_path_factory.mktemp("messy")
    data = root / "data"
    make_images(data / "blue", 2, 6)
    make_images(data / "red", 0, 6)
    Image.new("RGB", (1, 1), (255, 0, 0)).save(data / "red" / "one_pixel.png")
    Image.new("RGB", (8000, 8000), (255, 0, 0)).save(data / "red" / "huge.png")
    frames = [Image.new("RGB", (SIZE, SIZE), colour) for colour in ((0, 0, 255), (0, 0, 200))]
    frames[0].save(data / "blue" / "animated.gif", save_all=True, append_images=frames[1:],
                   duration=100, loop=0)
    (data / "blue" / "loop.png").symlink_to(data / "blue" / "loop.png")
    # 16.5: files that are not regular files, and folders that are links or unreadable.
    os.mkfifo(data / "blue" / "pipe.jpg")  # reading it would wait forever
    (data / "red" / "zero.jpg").symlink_to("/dev/zero")  # reading it would never end
    (data / "blue" / "gone.jpg").symlink_to(root / "missing.jpg")  # a dangling link
    make_images(root / "elsewhere", 2, 2, seed=100)
    (data / "blue" / "more").symlink_to(root / "elsewhere", target_is_directory=True)
    make_images(data / "red" / "locked", 0, 2)
    unreadable = data / "red" / "unreadable.png"
    make_images(root / "spare", 0, 1)
    shutil.copy(root / "spare" / "0.png", unreadable)
    unreadable.chmod(0o000)
    out = root / "out"
    with _unreadable_even_for_root(unreadable), pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_train, "train_two_stage", _pretend_training)  # the reading matters here
        patch.setattr(os, "scandir", _locked_folder_scandir)
        code = call_main("train", data, *tiny, "--out", out)
    unreadable.chmod(0o644)
    report = json.loads((out / "report.json").read_text()) if code == 0 else None
    return code, report


_real_scandir = os.scandir


def _locked_folder_scandir(path="."):
    """`os.scandir`, except that a folder named "locked" cannot be read (as after
    chmod 000, which does not stop root)."""
    if not isinstance(path, int) and Path(path).name == "locked":  # (an int: a descriptor)
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    return _real_scandir(path)


class _unreadable_even_for_root:
    """chmod 000 stops everyone but root; for root, opening the file fails as it would."""

    def __init__(self, path):
        self.path = str(path)
        self.patches = []

    def __enter__(self):
        if os.geteuid() != 0:
            return self
        for module in (io, __builtins__ if isinstance(__builtins__, dict) else
                       __builtins__.__dict__):
            real = module["open"] if isinstance(module, dict) else module.open
            self.patches.append((module, real))

            def guarded(file, *args, real=real, **kwargs):
                if str(file) == self.path:
                    raise PermissionError(errno.EACCES, "Permission denied", str(file))
                return real(file, *args, **kwargs)

            if isinstance(module, dict):
                module["open"] = guarded
            else:
                module.open = guarded
        return self

    def __exit__(self, *exc_info):
        for module, real in self.patches:
            if isinstance(module, dict):
                module["open"] = real
            else:
                module.open = real


@pytest.mark.parametrize("name", ["one_pixel.png", "huge.png", "animated.gif", "loop.png",
                                  "unreadable.png", "pipe.jpg", "zero.jpg", "gone.jpg",
                                  "locked"])
def test_odd_files_are_loaded_or_skipped_and_reported(messy_run, name):
    code, report = messy_run
    assert code == 0
    skipped = {Path(item["path"]).name: item["reason"] for item in report["data"]["skipped"]}
    counted = sum(sum(counts.values()) for counts in report["data"]["counts"].values())
    if name in skipped:
        assert skipped[name]  # a reason
    else:  # loaded: counted among the images (12 plain ones, plus the odd loaded ones)
        assert counted > 12
    if name in ("loop.png", "unreadable.png", "pipe.jpg", "zero.jpg", "gone.jpg", "locked"):
        assert name in skipped, "a file that cannot be read must be listed as skipped"
    expected = {"pipe.jpg": "FIFO", "zero.jpg": "character device", "gone.jpg": "broken link",
                "locked": "cannot read the folder"}
    if name in expected:
        assert expected[name] in skipped[name]


def test_16_5_photos_in_a_linked_folder_are_loaded(messy_run):
    code, report = messy_run
    blue = sum(counts.get("blue", 0) for counts in report["data"]["counts"].values())
    assert code == 0 and blue >= 6 + 2  # the six plain ones and the two behind the link


def test_16_5_predict_lists_what_it_cannot_read(saved_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    make_images(photos, 2, 1)
    os.mkfifo(photos / "pipe.jpg")
    (photos / "zero.jpg").symlink_to("/dev/zero")
    (photos / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    code = call_main("predict", saved_model, photos)
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err
    for name, reason in (("pipe.jpg", "FIFO"), ("zero.jpg", "character device"),
                         ("gone.jpg", "broken link")):
        line = next(line for line in captured.err.splitlines() if f"skipped {name}" in line)
        assert reason in line
    assert "0.png" in captured.out


# --------------------------------------------------------------------------- 15.2, 16.1-16.3 --out


def test_15_2_second_run_into_the_same_out_exits_2_and_changes_nothing(earlier, colours,
                                                                       tiny, capsys):
    out, before = earlier
    code = call_main("train", colours, *tiny, "--out", out)
    assert_clear_error(code, capsys, 2, "--overwrite", "nothing was changed")
    assert snapshot(out) == before


def test_15_2_overwrite_replaces_the_whole_run_and_leaves_nothing_stale(earlier, colours,
                                                                        tiny, no_training):
    out, before = earlier
    (out / "data_efficiency.png").write_bytes(before["learning_curves.png"])  # a demo's
    (out / "report.md").write_text("the old run\n")
    assert call_main("train", colours, *tiny, "--overwrite", "--out", out) == 0
    after = snapshot(out)
    assert sorted(after) == sorted(before)  # the stale figure is gone
    assert b"the old run" not in after["report.md"]
    assert not leftovers(out.parent)


def test_15_2_overwrite_refuses_a_folder_with_foreign_files(earlier, colours, tiny, capsys):
    out, before = earlier
    (out / "notes.txt").write_text("mine\n")
    code = call_main("train", colours, *tiny, "--overwrite", "--out", out)
    assert_clear_error(code, capsys, 2, "notes.txt")
    assert snapshot(out) == {**before, "notes.txt": b"mine\n"}


@pytest.mark.parametrize("command", ["demo", "evaluate"])
def test_15_2_demo_and_evaluate_refuse_a_non_empty_out(command, earlier, colours, capsys):
    out, before = earlier
    args = {"demo": ["demo"],
            "evaluate": ["evaluate", out / "model.keras", colours]}[command]
    code = call_main(*args, "--out", out)
    assert_clear_error(code, capsys, 2, "already holds files", "--overwrite")
    assert snapshot(out) == before


@pytest.mark.parametrize("where", ["a file", "under a file", "DATA_DIR", "inside DATA_DIR"])
def test_16_1_16_3_out_refused_before_any_work(where, tmp_path, colours, tiny, capsys,
                                              monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    out = {"a file": a_file, "under a file": a_file / "run", "DATA_DIR": colours,
           "inside DATA_DIR": colours / "red" / "run"}[where]
    monkeypatch.setattr(cli_train, "load_image_folder", _no_reading)
    before = snapshot(colours)
    assert_clear_error(call_main("train", colours, *tiny, "--out", out), capsys, 2, "--out")
    assert snapshot(colours) == before and a_file.read_text() == "keep me\n"


def _no_reading(*args, **kwargs):
    raise AssertionError("the data was read before --out was checked")


def test_16_1_read_only_out_exits_1_before_any_work(tmp_path, colours, tiny, capsys,
                                                    monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root ignores permissions: pretend it does not
        monkeypatch.setattr(cli_folders.os, "access", lambda path, mode: False)
    monkeypatch.setattr(cli_train, "load_image_folder", _no_reading)
    code = call_main("train", colours, *tiny, "--out", locked / "run")
    assert_clear_error(code, capsys, 1, "Permission denied", str(locked))
    assert not (locked / "run").exists()


def test_16_1_disk_full_while_saving_exits_1_and_keeps_the_earlier_run(
        earlier, colours, tiny, capsys, monkeypatch, no_training):
    out, before = earlier

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_files, "fsync_path", disk_full)  # the first flush to the disk
    code = call_main("train", colours, *tiny, "--overwrite", "--out", out)
    assert_clear_error(code, capsys, 1, "No space left on device")
    assert snapshot(out) == before
    assert not leftovers(out.parent)


def test_16_1_disk_full_on_a_new_out_leaves_no_folder(tmp_path, colours, tiny, capsys,
                                                     monkeypatch, no_training):
    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_files, "fsync_path", disk_full)
    out = tmp_path / "new" / "run"
    code = call_main("train", colours, *tiny, "--out", out)
    assert_clear_error(code, capsys, 1, "No space left on device")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- 16.2 evaluate --out


def test_16_2_evaluate_never_replaces_the_run_that_holds_its_model(earlier, colours, capsys):
    out, before = earlier
    code = call_main("evaluate", out / "model.keras", colours, "--overwrite", "--out", out)
    assert_clear_error(code, capsys, 2, "holds the model being evaluated")
    assert snapshot(out) == before


def test_16_2_evaluate_overwrite_leaves_only_its_own_files(earlier, colours):
    out, before = earlier
    evaluation = out / "evaluation"
    evaluation.mkdir()
    for name in ("report.json", "report.md", "learning_curves.png"):  # a training run's
        (evaluation / name).write_bytes(before[name])
    assert call_main("evaluate", out / "model.keras", colours, "--overwrite", "--out",
                     evaluation) == 0
    assert sorted(snapshot(evaluation)) == ["confusion_matrix.png", "report.json",
                                            "report.md"]  # the stray figure is gone
    assert json.loads((evaluation / "report.json").read_text())["command"] == "evaluate"


# --------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def saved_model(previous_run):
    return previous_run / "model.keras"


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("fault", ["truncated", "not a Keras file", "a folder"])
def test_15_6_16_6_broken_model_files_are_refused(command, fault, saved_model, colours,
                                                  tmp_path, capsys):
    model = tmp_path / "model.keras"
    if fault == "truncated":
        model.write_bytes(saved_model.read_bytes()[:5000])
    elif fault == "not a Keras file":
        model.write_text("just text\n")
    else:
        model = tmp_path / "run"
        model.mkdir()
        shutil.copy(saved_model, model / "model.keras")
    code = call_main(command, model, colours)
    error = assert_clear_error(code, capsys, 2, str(model))
    if fault == "a folder":
        assert "is a folder" in error and "does not exist" not in error
        assert str(model / "model.keras") in error


def test_15_6_a_lambda_layer_from_an_untrusted_file_is_refused(tmp_path, colours, capsys):
    ran = tmp_path / "code_ran"  # the layer's code leaves this file each time it runs

    def untrusted(x):
        ran.touch()
        return x[:, 0, 0, :2]

    inputs = keras.Input((SIZE, SIZE, 3))
    keras.Model(inputs, keras.layers.Lambda(untrusted)(inputs)).save(tmp_path / "lambda.keras")
    ran.unlink()  # (building the model ran it once)
    code = call_main("predict", tmp_path / "lambda.keras", colours)
    assert_clear_error(code, capsys, 2, "lambda.keras")
    assert not ran.exists()


def test_15_6_a_folder_whose_classes_do_not_match_the_model(saved_model, tmp_path, capsys):
    data = tmp_path / "data"
    make_images(data / "cats", 0, 2)
    make_images(data / "dogs", 2, 2)
    code = call_main("evaluate", saved_model, data)
    assert_clear_error(code, capsys, 2, "cats", "blue, red")


# --------------------------------------------------------------------------- 15.4 checkpoints


@pytest.fixture(scope="module")
def untrained_model():
    return tk.build_classifier("mobilenet", 2, input_shape=(SIZE, SIZE, 3), weights=None,
                               alpha=0.25)


@pytest.mark.parametrize("recipe", [train_head, train_two_stage])
@pytest.mark.parametrize("path, fragment", [("best.h5", "must end in '.keras'"),
                                            ("FOLDER.keras", "is a folder"),
                                            ("FILE/best.keras", "inside the file")])
def test_15_4_a_bad_checkpoint_path_fails_before_training(recipe, path, fragment, tmp_path,
                                                          monkeypatch, untrained_model):
    (tmp_path / "FOLDER.keras").mkdir()
    (tmp_path / "FILE").write_text("x")
    model = untrained_model

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the checkpoint path was checked")

    monkeypatch.setattr(model, "fit", no_training)
    monkeypatch.setattr("transfer_keras.features.extract_outputs", no_training)
    images = np.zeros((4, SIZE, SIZE, 3), np.float32)
    data = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1, 0, 1]))).batch(2)
    with pytest.raises(ValueError, match=fragment):
        recipe(model, data, checkpoint_path=tmp_path / path)


# --------------------------------------------------------------------------- 15.3 atomic writes


def test_15_3_atomic_path_flushes_file_and_folder_and_never_flips_the_umask(tmp_path,
                                                                          monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(handle):
        synced.append("folder" if os.path.isdir(f"/proc/self/fd/{handle}") else "file")
        real_fsync(handle)

    def no_umask(*args):
        raise AssertionError("os.umask changes the whole process's umask: racy")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "umask", no_umask)
    target = tmp_path / "report.md"
    _files.write_text_atomically(target, "hello\n")
    assert target.read_text() == "hello\n"
    assert synced[:1] == ["file"] and "folder" in synced
    assert os.listdir(tmp_path) == ["report.md"]


def test_15_3_atomic_path_gives_the_usual_mode(tmp_path):
    previous = os.umask(0o027)  # the test may change it; the library never does
    try:
        _files.write_text_atomically(tmp_path / "a.md", "x")
        plain = tmp_path / "plain.md"
        plain.write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o640


def test_15_3_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"the good model")
    with pytest.raises(OSError):
        with _files.atomic_path(target) as temporary:
            Path(temporary).write_bytes(b"half a mod")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"the good model"
    assert os.listdir(tmp_path) == ["model.keras"]


# --------------------------------------------------------------------------- 16.6-16.9 messages


def test_16_6_image_size_too_large_is_refused(colours, tmp_path, capsys):
    code = call_main("train", colours, "--backbone", "mobilenet", "--image-size", "22400",
                     "--out", tmp_path / "run")
    assert_clear_error(code, capsys, 2, "--image-size", str(cli_parser.MAX_IMAGE_SIZE))


def test_16_6_a_truncated_cached_weights_file_is_called_damaged(keras_home, tmp_path,
                                                                capsys, colours):
    genuine = tk.kit.example_weights()
    (keras_home / genuine.name).write_bytes(genuine.read_bytes()[:4096])
    code = call_main("train", colours, "--backbone", "mobilenet", "--alpha", "0.25",
                     "--image-size", "224", "--out", tmp_path / "run")
    error = assert_clear_error(code, capsys, 1, genuine.name, "truncated", "Delete it")
    assert "not in the Keras cache" not in error


@pytest.mark.parametrize("options", [["--fine-tune-layers", "100000"],
                                     ["--epochs", "0", "--fine-tune-epochs", "0"]])
def test_16_7_bad_numbers_are_refused_before_the_data_is_read(options, colours, tiny,
                                                              tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "load_image_folder", _no_reading)
    code = call_main("train", colours, *tiny, *options, "--out", tmp_path / "run")
    assert_clear_error(code, capsys, 2, options[0])


def test_stage_1_only_says_so_on_screen_and_in_the_report(colours, tiny, tmp_path, capsys):
    # `--fine-tune-epochs 0` used to announce "stage 2: ... for 0 epoch(s)".
    out = tmp_path / "run"
    flags = list(tiny)
    flags[flags.index("--fine-tune-epochs") + 1] = "0"
    assert call_main("train", colours, *flags, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "Stage 1 only: frozen backbone, 1 epoch for the head; no fine-tuning" in printed
    assert "stage 2" not in printed.lower() and "epoch(s)" not in printed
    markdown = (out / "report.md").read_text()
    assert "1 epoch at most; no stage 2" in markdown and "epoch(s)" not in markdown
    history = json.loads((out / "report.json").read_text())["history"]
    assert history["fine_tune_epoch"] is None and list(history["seconds"]) == ["head"]


@pytest.mark.parametrize("classes", [("train", "cats"), ("train", "val"), ("test", "valid")])
def test_16_8_classes_named_like_splits_are_explained(classes, tmp_path, tiny, capsys):
    data = tmp_path / "data"
    for colour, name in zip((0, 2), classes):
        make_images(data / name, colour, 4)
    code = call_main("train", data, *tiny, "--validation-split", "0.25",
                     "--out", tmp_path / "run")
    reserved = sorted(name for name in classes if name in cli_train.SPLIT_FOLDER_NAMES)
    assert_clear_error(code, capsys, 2, "cannot be class names", "Rename",
                       f"{reserved[0]}_class")


def test_16_9_backbones_says_which_alpha_and_size_are_cached(keras_home, capsys):
    genuine = tk.kit.example_weights()
    shutil.copy(genuine, keras_home / genuine.name)
    assert call_main("backbones") == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("mobilenet "))
    assert "alpha 0.25 at 224 px" in row
    assert tk.backbones.cached_variants("mobilenetv2") == "no"


def test_16_9_the_prefetch_hint_names_alpha_and_image_size(keras_home, tmp_path, colours,
                                                           capsys, monkeypatch):
    import urllib.error

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(f"no network in this test ({url})")

    monkeypatch.setattr(_keras_compat.keras_file_utils, "urlretrieve", no_network)
    code = call_main("train", colours, "--backbone", "mobilenetv2", "--alpha", "0.35",
                     "--image-size", "96", "--out", tmp_path / "run")
    assert_clear_error(code, capsys, 1, "prefetch --backbones mobilenetv2 --alpha 0.35 "
                                        "--image-size 96")


# ------------------------------------------------------------------- 15.3, 16.4, 16.10 signals

# Runs the command in a subprocess that pauses (sleeps) at a chosen point of the real
# run and says so on stdout; the test then sends the signal there.
PAUSING_CLI = """
import signal, sys, time
import keras
import transfer_keras.cli as cli
import transfer_keras.training as training

# Ctrl-C as a terminal delivers it. A process started with SIGINT ignored keeps ignoring
# it (pytest-xdist's workers ignore SIGINT, and their children inherit that).
signal.signal(signal.SIGINT, signal.default_int_handler)
where, argv = sys.argv[1], sys.argv[2:]

def pause():
    print("PAUSED", where, flush=True)
    # Short sleeps, as a busy program would: Python runs a signal's handler in the main
    # thread when it next runs Python code, and the kernel may hand the signal to one of
    # TensorFlow's threads, which does not wake a single long sleep (a CI run hung so).
    for _ in range(6000):
        time.sleep(0.1)

def pausing_at_start(real):
    def run(*args, **kwargs):
        pause()
        return real(*args, **kwargs)
    return run

def pausing_at_end(real):
    def run(*args, **kwargs):
        result = real(*args, **kwargs)
        pause()
        return result
    return run

if where == "stage 1":
    training.train_head = pausing_at_start(training.train_head)
elif where == "stage 2":  # stage 1 has run for real
    training.fine_tune = pausing_at_start(training.fine_tune)
elif where == "saving":  # inside atomic_path: the temporary model file is written
    keras.Model.save = pausing_at_end(keras.Model.save)
sys.exit(cli.main(argv))
"""

SIGNAL_CASES = [("SIGINT", "stage 1"), ("SIGINT", "stage 2"), ("SIGTERM", "stage 1"),
                ("SIGTERM", "stage 2"), ("SIGTERM", "saving")]


def _lines(stream, lines):
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


@pytest.fixture(scope="module")
def interrupted_runs(previous_run, colours, tiny, tmp_path_factory):
    """Every signal case, run at the same time: `{case: (exit code, stdout, stderr, out,
    snapshot before)}`."""
    root = tmp_path_factory.mktemp("signals")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    runs = {}
    for signal_name, where in SIGNAL_CASES:
        case_dir = root / f"{signal_name}_{where.replace(' ', '_')}"
        out = case_dir / "run"
        shutil.copytree(previous_run, out)
        stderr = open(case_dir / "stderr.txt", "w")
        stages = [] if where == "stage 2" else ["--fine-tune-epochs", "0"]  # less to do
        process = subprocess.Popen(
            [sys.executable, "-c", PAUSING_CLI, where, "train", str(colours), *tiny,
             *stages, "--overwrite", "--out", str(out)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        lines = queue.Queue()
        threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
        runs[(signal_name, where)] = (process, lines, stderr, out, snapshot(out), case_dir)
    results = {}
    for (signal_name, where), (process, lines, stderr, out, before, case_dir) in runs.items():
        stdout = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = lines.get(timeout=deadline - time.monotonic())
            if line is None:
                break
            stdout.append(line)
            if line.startswith("PAUSED"):
                process.send_signal(getattr(signal, signal_name))
                break
        try:
            code = process.wait(timeout=120)
        finally:
            process.kill()
        stderr.close()
        while (line := lines.get(timeout=10)) is not None:
            stdout.append(line)
        results[(signal_name, where)] = (code, "".join(stdout),
                                         (case_dir / "stderr.txt").read_text(), out, before)
    return results


@pytest.mark.parametrize("signal_name, where", SIGNAL_CASES)
def test_15_3_16_10_an_interrupt_leaves_the_earlier_run_intact(signal_name, where,
                                                               interrupted_runs):
    code, stdout, stderr, out, before = interrupted_runs[(signal_name, where)]
    assert f"PAUSED {where}" in stdout, stderr
    assert code == {"SIGINT": 130, "SIGTERM": 143}[signal_name], stderr
    assert "Traceback" not in stderr, stderr
    message = {"SIGINT": "error: interrupted", "SIGTERM": "error: terminated"}[signal_name]
    assert message in stderr  # SIGTERM is not silent
    assert "nothing was written" in stderr and str(out) in stderr
    assert snapshot(out) == before  # the previous model.keras byte-identical, no mix
    assert not leftovers(out.parent), "temporary files left behind"
    if where == "stage 2":
        assert "Stage 1 done" in stdout
        assert "stage 1 had finished" in stderr and "--fine-tune-epochs 0" in stderr


# --------------------------------------------------------------------------- 15.1 from scratch


def make_squares(folder, colour, count, seed):
    """White images with one square of `colour` at a random place and size."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = np.full((64, 64, 3), 255, np.uint8)
        side = int(rng.integers(16, 40))
        x, y = rng.integers(0, 64 - side, 2)
        pixels[y:y + side, x:x + side] = colour
        Image.fromarray(pixels).save(folder / f"{index}.png")


@pytest.mark.slow
def test_15_1_weights_none_trains_from_scratch_and_learns_red_vs_blue(tmp_path, capsys):
    data = tmp_path / "squares"
    make_squares(data / "reds", (255, 0, 0), 30, seed=0)
    make_squares(data / "blues", (0, 0, 255), 30, seed=1)
    out = tmp_path / "run"
    code = call_main("train", data, "--backbone", "mobilenet", "--alpha", "0.25",
                     "--weights", "none", "--image-size", "96", "--out", out)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "From scratch" in printed.out and "Stage 1" not in printed.out
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["from_scratch"] is True
    assert report["accuracy"] >= 0.95, report["evaluation"]
