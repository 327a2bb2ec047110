"""The `transfer-keras` command, driven in subprocesses as a user would run it."""

import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

import transfer_keras as tk
import transfer_keras.cli.folders as cli_folders
import transfer_keras.cli.train as cli_train
import transfer_keras.scratch as scratch
from transfer_keras.cli import build_parser, main

COMMANDS = ("demo", "train", "predict", "evaluate", "backbones", "prefetch")
TINY_TRAIN = ["--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "32",
              "--weights", "none", "--epochs", "1", "--fine-tune-epochs", "1"]


def run_cli(*args, keras_home=None, timeout=300):
    """Runs `python -m transfer_keras.cli ARGS`; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if keras_home is not None:
        env["KERAS_HOME"] = str(keras_home)
    return subprocess.run([sys.executable, "-m", "transfer_keras.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def assert_user_error(result, *fragments):
    """Exit code 2, `error: ...` naming the problem, and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Two easy classes ("red", "blue") of 12 noisy 32x32 PNGs each."""
    root = tmp_path_factory.mktemp("images") / "colours"
    rng = np.random.default_rng(0)
    for name, channel in [("blue", 2), ("red", 0)]:
        (root / name).mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(170, 256, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained(image_folder, tmp_path_factory):
    """`transfer-keras train` on the tiny folder; returns (result, output folder)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = run_cli("train", image_folder, *TINY_TRAIN, "--out", out)
    return result, out


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"transfer-keras {command}" in capsys.readouterr().out


def test_help_in_a_subprocess_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "photos"])  # --backbone and --out missing
    assert exit_info.value.code == 2


@pytest.mark.parametrize("flags, fragments", [
    (["--weights", "{run}/model.keras"],
     ["error: --weights: `weights` file", "is a whole Keras model (.keras)"]),
    (["--weights", "{run}/report.json"],
     ["error: --weights: `weights` file", "is not a weights file"]),
    (["--weights", "none", "--alpha", "-1"],
     ["error: --alpha: `alpha` (the width multiplier)", "-1.0"]),
    (["--weights", "{source}", "--alpha", "0.5"],
     ["error: --weights: `weights` file", "does not fit",
      "beside it says it was saved with 'mobilenet', {'alpha': 0.25}"]),
    (["--batch-size", "99999999999999999999"], ["--batch-size", "at most 4096"]),
])
def test_train_flag_mistakes_name_the_flag_in_a_short_message(flags, fragments, trained,
                                                              image_folder, tmp_path, capsys):
    # These used to end in Keras's own words: a 4-8 KB list of layers or tensor values,
    # "Received filters=-32", or advice about Orbax checkpoints.
    _, run = trained
    source = tk.project_source_backbone().weights
    flags = [flag.format(run=run, source=source) for flag in flags]
    code = call_main("train", image_folder, "--backbone", "mobilenet", "--image-size", "32",
                     *flags, "--out", tmp_path / "run")
    error = capsys.readouterr().err
    assert_user_error(types.SimpleNamespace(returncode=code, stderr=error), *fragments)
    assert len(error) < 1200 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, fragment", [
    (["--curve", "1000"], "error: --curve: `labels_per_class` must be"),
    (["--seeds", "0", "0"], "error: --seeds: `seeds` must be")])
def test_demo_flag_mistakes_name_the_flag(flags, fragment, tmp_path, capsys):
    assert_user_error_here(call_main("demo", *flags, "--out", tmp_path / "d"), capsys, fragment)


# --------------------------------------------------------------------------- train, predict, evaluate


def test_train_writes_model_reports_and_figures(trained):
    result, out = trained
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "blue" in result.stdout and "red" in result.stdout  # the data report first
    # --weights none trains from scratch: one stage, every layer (issue 15)
    assert result.stdout.index("resized to 32x32") < result.stdout.index("From scratch")
    for name in ("model.keras", "report.md", "report.json",
                 "learning_curves.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    assert not (out / "class_names.json").exists()  # the names are inside model.keras
    assert not list(out.glob(".*")), "temporary files left behind"
    report = json.loads((out / "report.json").read_text())
    for key in ("settings", "class_names", "data", "accuracy", "evaluation", "history"):
        assert key in report
    assert report["settings"]["augment"] is False and "augmented" not in result.stdout
    assert report["class_names"] == ["blue", "red"]
    assert 0 <= report["accuracy"] <= 1
    assert report["accuracy"] == report["evaluation"]["accuracy"]
    assert report["data"]["counts"]["train"] == {"blue": 10, "red": 10}  # 0.2 held out
    assert tk.load_class_names(out / "model.keras") == ["blue", "red"]
    markdown = (out / "report.md").read_text()
    assert f"{report['accuracy']:.4f}" in markdown and "blue" in markdown
    # Words, not a Python dict ("Building mobilenet {'alpha': 0.25}")
    assert "Building mobilenet (alpha 0.25) with weights random" in result.stdout
    assert "Backbone `mobilenet` (alpha 0.25), weights" in markdown
    assert "{'alpha'" not in result.stdout + markdown


def test_train_with_train_and_test_folders_holds_out_validation_from_train(
        image_folder, tmp_path, capsys):
    data = tmp_path / "kaggle_style"  # train/ and test/, no validation folder
    for name in ("blue", "red"):
        photos = sorted((image_folder / name).iterdir())
        for split, chosen in (("train", photos[:8]), ("test", photos[8:])):
            (data / split / name).mkdir(parents=True)
            for photo in chosen:
                shutil.copy(photo, data / split / name / photo.name)
    out = tmp_path / "run"
    assert call_main("train", data, *TINY_TRAIN, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "no validation folder: holding out 20% of train/ for validation" in printed
    report = json.loads((out / "report.json").read_text())
    counts = report["data"]["counts"]
    assert list(counts) == ["train", "val", "test"]
    assert counts["val"] == {"blue": 2, "red": 2} and counts["test"] == {"blue": 4, "red": 4}
    assert 0 <= report["test_accuracy"] <= 1  # test/ scored once, at the end
    assert "On the test/ folder (held out from every choice)" in printed


def test_predict_prints_a_table(trained, image_folder):
    _, out = trained
    result = run_cli("predict", out / "model.keras", image_folder, "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "red/0.png" in result.stdout and "top-2" in result.stdout
    assert result.stdout.count(".png") == 24


def test_predict_skips_what_is_not_an_image_and_says_why_once(trained, image_folder,
                                                              tmp_path):
    _, out = trained
    folder = tmp_path / "to_predict"
    shutil.copytree(image_folder / "red", folder)
    (folder / "notes.txt").write_text("not a photo\n")
    (folder / "broken.png").write_bytes((folder / "0.png").read_bytes()[:60])
    result = run_cli("predict", out / "model.keras", folder, "--json")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2
    assert notes[0].startswith("note: skipped broken.png: corrupt or truncated image (")
    assert notes[1] == ("note: skipped notes.txt: not an image (Pillow cannot identify the "
                        "format)")
    assert str(folder) not in result.stderr  # the file's name, not its path twice
    data = json.loads(result.stdout)
    assert len(data["results"]) == 12
    assert {item["file"] for item in data["skipped"]} == {"broken.png", "notes.txt"}


def test_predict_json_names_classes_from_the_model_file_alone(trained, image_folder,
                                                              tmp_path):
    _, out = trained
    alone = tmp_path / "model.keras"  # no class_names.json or report.json beside it
    shutil.copy(out / "model.keras", alone)
    result = run_cli("predict", alone, image_folder / "red" / "3.png", "--json")
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stderr
    data = json.loads(result.stdout)
    assert data["class_names"] == ["blue", "red"]
    assert data["class_names_from"] == str(alone)
    [only] = data["results"]
    assert only["file"] == "3.png"
    assert {p["class"] for p in only["predictions"]} == {"blue", "red"}
    assert abs(sum(p["probability"] for p in only["predictions"]) - 1) < 1e-3


def test_predict_model_without_class_names_falls_back_to_indices(trained, image_folder,
                                                                 tmp_path):
    _, out = trained
    bare = tmp_path / "model.keras"  # saved by plain Keras: no class names inside
    tk.load_model(out / "model.keras", compile=False).save(bare)
    assert tk.load_class_names(bare) is None
    (tmp_path / "class_names.json").write_text(json.dumps(["blue", "red"]))  # not read

    result = run_cli("predict", bare, image_folder / "red" / "3.png", "--json")
    assert result.returncode == 0, result.stderr
    assert "class indices" in result.stderr
    by_index = json.loads(result.stdout)
    assert by_index["class_names"] == ["0", "1"] and by_index["class_names_from"] is None


def test_evaluate_scores_a_folder(trained, image_folder, tmp_path):
    _, out = trained
    result = run_cli("evaluate", out / "model.keras", image_folder, "--out", tmp_path / "ev")
    assert result.returncode == 0, result.stderr
    assert "Accuracy" in result.stdout and "on 24 examples" in result.stdout
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["class_names"] == ["blue", "red"] and 0 <= report["accuracy"] <= 1
    assert report["class_names_from"] == str(out / "model.keras")
    assert (tmp_path / "ev" / "confusion_matrix.png").is_file()


def test_evaluate_scores_the_test_folder_of_split_folders(trained, image_folder, tmp_path,
                                                          capsys):
    # train/ 8, val/ 2 and test/ 2 images per class: test/ is the last held-out part.
    _, out = trained
    for name in ("blue", "red"):
        photos = sorted((image_folder / name).glob("*.png"))
        for split, chosen in [("train", photos[:8]), ("val", photos[8:10]),
                              ("test", photos[10:])]:
            (tmp_path / "data" / split / name).mkdir(parents=True)
            for photo in chosen:
                shutil.copy(photo, tmp_path / "data" / split / name / photo.name)
    code = call_main("evaluate", out / "model.keras", tmp_path / "data", "--out",
                     tmp_path / "ev")
    printed = capsys.readouterr().out
    assert code == 0
    assert "held-out test part (4 images); the train and val parts are not scored" in printed
    assert "on 4 examples" in printed
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["scored_part"] == "test"
    assert np.sum(report["evaluation"]["confusion_matrix"]) == 4
    assert "Scored: the test part (4 images)." in (tmp_path / "ev" / "report.md").read_text()


# --------------------------------------------------------------------------- backbones, prefetch


def test_backbones_lists_every_backbone():
    from transfer_keras import BACKBONES

    result = run_cli("backbones")
    assert result.returncode == 0, result.stderr
    for name in BACKBONES:
        assert name in result.stdout
    assert "weights cached" in result.stdout


def test_prefetch_offline_fails_with_help(tmp_path):
    # This machine has no internet: the download fails fast (DNS), never hangs.
    result = run_cli("prefetch", "--backbones", "mobilenetv2", keras_home=tmp_path,
                     timeout=180)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "failed" in result.stdout
    assert "mobilenet_v2_weights" in result.stdout  # the file Keras looks for
    assert "needs internet" in result.stderr
    assert "rsync -a" in result.stdout and "KERAS_HOME" in result.stdout


def test_prefetch_offline_fails_even_when_the_kit_can_stand_in(tmp_path):
    # Offline, `build_backbone` builds MobileNet (alpha 0.25) from the kit's file,
    # but nothing reaches the cache, so the prefetch must not report success.
    result = run_cli("prefetch", "--backbones", "mobilenet", "--alpha", "0.25",
                     "--image-size", "128", keras_home=tmp_path, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "failed" in result.stdout and " ok " not in result.stdout
    assert "mobilenet_2_5_128_tf_no_top.h5" in result.stdout  # the file that is missing
    assert "needs internet" in result.stderr
    assert not list(tmp_path.rglob("*.h5"))  # nothing was cached


# --------------------------------------------------------------------------- user mistakes


def call_main(*args):
    """Runs `main(ARGS)` in this process; returns the exit code (argparse's too)."""
    try:
        return main([str(arg) for arg in args])
    except SystemExit as exit_info:
        return exit_info.code


def assert_user_error_here(code, capsys, *fragments):
    """As `assert_user_error`, for `call_main` in this process."""
    result = types.SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)
    assert_user_error(result, *fragments)


def test_train_seeds_with_op_determinism(image_folder, tmp_path, monkeypatch):
    # `--seed` goes through tk.set_seed, which also turns on TensorFlow's op
    # determinism: with only Keras's seeding, the same command gave validation
    # accuracies from 0.689 to 0.721 on the kit's photos.
    seeds = []

    def stop_after_seeding(seed, deterministic=True):
        seeds.append((seed, deterministic))
        raise KeyboardInterrupt  # nothing after this point is under test

    monkeypatch.setattr(cli_train, "set_seed", stop_after_seeding)
    code = call_main("train", image_folder, *TINY_TRAIN, "--seed", "7",
                     "--out", tmp_path / "run")
    assert code == 130 and seeds == [(7, True)]
    assert not (tmp_path / "run").exists()


def test_missing_folder(tmp_path):
    # In a subprocess, as a user runs it: the exit code of a mistake is 2.
    result = run_cli("train", tmp_path / "nowhere", *TINY_TRAIN, "--out", tmp_path / "o")
    assert_user_error(result, "nowhere", "does not exist")


# The other mistakes take the same path to the exit code: they run in this process.


def test_unknown_backbone(image_folder, tmp_path, capsys):
    code = call_main("train", image_folder, "--backbone", "alexnet", "--out", tmp_path)
    assert_user_error_here(code, capsys, "Unknown backbone 'alexnet'", "mobilenetv2")


def test_image_size_too_small(image_folder, tmp_path, capsys):
    code = call_main("train", image_folder, "--backbone", "mobilenet", "--image-size", "16",
                     "--weights", "none", "--out", tmp_path)
    assert_user_error_here(code, capsys, "error: --image-size: ", "too small", "at least 32")


@pytest.mark.parametrize("seed", ["-1", "4294967296", "1.5"])
def test_bad_seed_names_the_flag(image_folder, tmp_path, capsys, seed):
    code = call_main("train", image_folder, *TINY_TRAIN, "--seed", seed, "--out", tmp_path)
    assert_user_error_here(code, capsys, "--seed", "from 0 to 2**32 - 1", repr(seed))


def test_an_alpha_without_imagenet_weights_names_the_flag(image_folder, tmp_path, capsys):
    code = call_main("train", image_folder, "--backbone", "mobilenet", "--alpha", "0.3",
                     "--image-size", "32", "--out", tmp_path / "run")
    assert_user_error_here(code, capsys, "error: --alpha: No ImageNet weights", "weights=None")


def test_bad_weights_path(image_folder, tmp_path, capsys):
    code = call_main("train", image_folder, "--backbone", "mobilenet", "--image-size", "32",
                     "--weights", tmp_path / "missing.h5", "--out", tmp_path)
    assert_user_error_here(code, capsys, "--weights", "missing.h5")


def test_model_file_that_is_not_a_keras_model(image_folder, tmp_path, capsys):
    fake = tmp_path / "x.keras"
    fake.write_text("not a model\n")
    code = call_main("predict", fake, image_folder)
    assert_user_error_here(code, capsys, "error: MODEL: ", "x.keras", "is not a Keras model")


# --------------------------------------------------------------------------- errors and exit codes


def test_offline_imagenet_weights_exit_1_with_the_flag_to_pass(image_folder, tmp_path):
    # No internet here and an empty Keras cache: the download fails (fast, DNS).
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    out = tmp_path / "X"
    result = run_cli("train", image_folder, "--backbone", "mobilenetv2", "--weights",
                     "imagenet", "--image-size", "32", "--out", out, keras_home=keras_home,
                     timeout=180)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: --weights: " in result.stderr  # the flag that avoids it: --weights none
    assert "mobilenet_v2_weights" in result.stderr  # the file Keras looks for
    assert not out.exists()


@pytest.mark.parametrize("where", ["data_dir", "inside_data_dir", "file", "under_a_file"])
def test_out_refused_before_anything_is_created(where, image_folder, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    out = {"data_dir": image_folder, "inside_data_dir": image_folder / "red" / "run",
           "file": a_file, "under_a_file": a_file / "run"}[where]
    before = sorted(image_folder.rglob("*"))
    assert call_main("train", image_folder, *TINY_TRAIN, "--out", out) == 2
    error = capsys.readouterr().err
    assert "error: --out" in error and "Traceback" not in error
    assert sorted(image_folder.rglob("*")) == before
    assert a_file.read_text() == "keep me\n"


@pytest.mark.parametrize("out", [".", "..", ""])
def test_out_that_is_or_holds_the_current_folder_is_refused(out, image_folder, tmp_path,
                                                             monkeypatch, capsys):
    # `cd run && transfer-keras train ... --out . --overwrite` used to succeed and leave
    # the shell in a deleted folder (the run is renamed into place as a whole).
    inside = tmp_path / "run" / "sub"
    inside.mkdir(parents=True)
    monkeypatch.chdir(inside)
    code = call_main("train", image_folder, *TINY_TRAIN, "--overwrite", "--out", out)
    expected = {".": "is the current folder", "..": "is a folder around the current one",
                "": "--out is empty"}[out]
    assert_user_error_here(code, capsys, expected)
    assert inside.is_dir() and sorted(tmp_path.rglob("*")) == [tmp_path / "run", inside]


@pytest.mark.parametrize("command", ["demo", "evaluate"])
def test_demo_and_evaluate_refuse_an_out_that_is_a_file(command, image_folder, tmp_path,
                                                        capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    args = {"demo": ["demo"],
            "evaluate": ["evaluate", tmp_path / "model.keras", image_folder]}[command]
    assert call_main(*args, "--out", a_file) == 2
    assert "is a file" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [a_file]


def test_out_without_write_permission_exits_1(image_folder, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root ignores permissions: pretend it does not
        monkeypatch.setattr(cli_folders.os, "access", lambda path, mode: False)
    assert call_main("train", image_folder, *TINY_TRAIN, "--out", locked / "run") == 1
    error = capsys.readouterr().err
    assert "Permission denied" in error and str(locked) in error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert not (locked / "run").exists()


def test_out_that_cannot_be_created_exits_1(image_folder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "full_disk" / "run"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == out.parent:  # a run is built beside --out: its parent is made first
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    assert call_main("train", image_folder, *TINY_TRAIN, "--out", out) == 1
    error = capsys.readouterr().err
    assert error.strip().splitlines()[-1] == f"error: No space left on device: {out.parent}"
    assert "Traceback" not in error and not out.parent.exists()


@pytest.mark.parametrize("flags, flag", [
    (["--epochs", "0", "--fine-tune-epochs", "0"], "--epochs"),
    (["--fine-tune-epochs", "-1"], "--fine-tune-epochs"),
    (["--fine-tune-layers", "100000"], "--fine-tune-layers"),
    (["--image-size", "22400"], "--image-size"),
])
def test_numeric_flags_refused_before_any_data_is_read(flags, flag, image_folder, tmp_path,
                                                       monkeypatch, capsys):
    def no_reading(*args, **kwargs):
        raise AssertionError("the data was read before the arguments were checked")

    monkeypatch.setattr(cli_train, "load_image_folder", no_reading)
    out = tmp_path / "run"
    assert call_main("train", image_folder, *TINY_TRAIN, *flags, "--out", out) == 2
    error = capsys.readouterr().err
    assert flag in error and "Traceback" not in error
    assert not out.exists()


def test_validation_split_refused_for_split_folders(image_folder, tmp_path, capsys):
    for part in ("train", "val"):
        shutil.copytree(image_folder, tmp_path / "photos" / part)
    assert tk.data.folder_layout(tmp_path / "photos") == "split folders"
    assert tk.data.folder_layout(image_folder) == "class folders"
    assert call_main("train", tmp_path / "photos", *TINY_TRAIN, "--validation-split", "0.2",
                     "--out", tmp_path / "run") == 2
    assert "--validation-split" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_bug_keeps_its_traceback_and_leaves_no_out(image_folder, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in training")

    monkeypatch.setattr(cli_train, "train_two_stage", broken)
    monkeypatch.setattr(scratch, "train_from_scratch", broken)  # --weights none
    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="a bug in training"):
        main(["train", str(image_folder), *TINY_TRAIN, "--out", str(out)])
    assert not (tmp_path / "new").exists()  # created for training, removed: still empty


def test_ctrl_c_exits_130(image_folder, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, "train_two_stage", interrupted)
    monkeypatch.setattr(scratch, "train_from_scratch", interrupted)  # --weights none
    out = tmp_path / "run"
    assert call_main("train", image_folder, *TINY_TRAIN, "--out", out) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()


def test_error_families():
    from transfer_keras.errors import ResourceUnavailableError, TransferKerasError, UsageError

    for error in (tk.WeightsUnavailableError, tk.FashionMNISTUnavailableError,
                  tk.kit.KitUnavailableError):
        assert issubclass(error, ResourceUnavailableError)
        assert issubclass(error, FileNotFoundError)  # older `except` clauses still work
    assert issubclass(ResourceUnavailableError, TransferKerasError)
    assert issubclass(UsageError, TransferKerasError) and issubclass(UsageError, ValueError)


# --------------------------------------------------------------------------- real data


def _fashion_mnist_available():
    from transfer_keras.data import FashionMNISTUnavailableError, load_fashion_mnist

    try:
        load_fashion_mnist(download=False)
    except FashionMNISTUnavailableError:
        return False
    return True


@pytest.mark.slow
def test_demo_writes_every_output(tmp_path):
    """The demo on a tiny budget (32 px, one seed, no extra curve point), once.

    That the same seeds give the same numbers (in this process or over worker
    processes) is checked on `run_showcase`, which the demo runs, in
    tests/test_showcase.py; here the command's outputs and report."""
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--seeds", "0", "--curve", "--image-size",
                     "32", keras_home=tmp_path / "empty_keras_home")
    assert result.returncode == 0, result.stderr
    for file_name in ("model.keras", "report.md", "report.json", "learning_curves.png",
                      "confusion_matrix.png", "data_efficiency.png"):
        assert (out / file_name).is_file(), file_name
    report = json.loads((out / "report.json").read_text())
    assert [row["method"] for row in report["results"]] == [
        "majority", "pixels_logistic", "imagenet_head", "scratch", "probe", "frozen",
        "fine_tuned"]
    for row in report["results"]:
        assert set(row) == {"method", "accuracy_mean", "accuracy_std", "seeds", "seconds"}
        assert row["seeds"] == [0]
    assert report["settings"]["image_size"] == 32 and report["settings"]["seeds"] == [0]
    assert "ImageNet" in report["settings"]["weights"]
    assert report["settings"]["backbone"] == "efficientnet_lite0"
    # the empty Keras home received the converted weights, and nothing read as a download
    assert (tmp_path / "empty_keras_home" / "models" /
            "efficientnet_lite0_imagenet_notop.weights.h5").is_file()
    assert "Downloading" not in result.stdout + result.stderr
    assert tk.load_class_names(out / "model.keras") == ["ants", "bees"]
    assert report["conclusion"] in result.stdout and str(out) in result.stdout


@pytest.mark.slow
def test_train_with_the_default_backbone_offline(tmp_path):
    """`transfer-keras train PHOTOS/ --out run`, no --backbone: EfficientNet-Lite0 with
    ImageNet weights converted offline into an empty Keras home, on a train/val/test
    folder the user made (here the kit's), its test/ scored at the end."""
    out = tmp_path / "run"
    result = run_cli("train", tk.kit.example_photos_folder(), "--image-size", "96",
                     "--epochs", "5", "--fine-tune-epochs", "1", "--out", out,
                     keras_home=tmp_path / "keras_home", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["backbone"] == "efficientnet_lite0"
    assert report["settings"]["weights"] == "imagenet"
    assert "Downloading" not in result.stdout + result.stderr
    assert report["test_accuracy"] > 0.8  # ImageNet features: far above the 0.54 majority
    assert tk.load_class_names(out / "model.keras") == ["ants", "bees"]


@pytest.mark.slow
def test_train_ants_bees_with_imagenet_weights_offline(tmp_path):
    keras_home = tmp_path / "keras_home"  # empty: the ImageNet file comes from the kit
    out = tmp_path / "ants_bees"
    result = run_cli("train", tk.kit.example_photos_folder(), "--backbone", "mobilenet",
                     "--alpha", "0.25", "--weights", "imagenet", "--image-size", "128",
                     "--epochs", "15",
                     "--fine-tune-epochs", "1", "--augment", "--out", out,
                     keras_home=keras_home,
                     timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["class_names"] == ["ants", "bees"]
    assert report["settings"]["augment"] is True and "on augmented photos" in result.stdout
    assert report["accuracy"] > 0.7
    assert f"Validation accuracy {report['accuracy']:.4f}" in result.stdout
    assert f"{report['accuracy']:.4f}" in (out / "report.md").read_text()
