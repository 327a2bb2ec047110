"""The `transfer-keras` command: demo, train, predict, evaluate, backbones, prefetch.

    transfer-keras demo                      # the whole story, offline, in about six minutes
    transfer-keras train photos/ --out ants_bees   # EfficientNet-Lite0 (tiny: --backbone mobilenet --alpha 0.25)
    transfer-keras predict ants_bees/model.keras photo.jpg
    transfer-keras evaluate ants_bees/model.keras more_photos/
    transfer-keras backbones                 # the table, and which weights are cached
    transfer-keras prefetch --backbones mobilenet --datasets fashion_mnist

Every command that trains writes one output folder: `model.keras` (takes raw
pixels and carries its class names, which `predict` and `evaluate` read back;
it loads with plain Keras too), `report.md`, `report.json` and the figures.
Models saved before the class names moved into the file still work: their
names are read from a `class_names.json` beside them.

This module only parses arguments, calls the library (the reports come from
`reports.py`) and turns errors into exit codes (families in `errors.py`):

    0    success
    1    the environment: missing weights, data or kit (`ResourceUnavailableError`),
         or any other `OSError` (permission denied, disk full); e.g. a failed download
    2    a mistake the user can fix: bad arguments (`ValueError`, `TypeError`,
         `UsageError`), also from argparse
    130  interrupted (Ctrl-C, SIGINT)
    143  terminated (SIGTERM, e.g. `kill PID`): handled exactly like Ctrl-C

Codes 1 and 2 print one `error: ...` line (or paragraph) saying how to fix it,
never a traceback; anything else is a bug and keeps its traceback. `train`,
`demo` and `evaluate` check every input (and that `--out` can be written)
before any work. `--out` must be new or empty, or given with `--overwrite`
(then the folder's whole content is replaced; a folder holding files that
transfer-keras does not write is refused). A run is built in a hidden folder
beside `--out` (`.NAME.partial-XXXX`) and renamed into place when it succeeds:
an error, Ctrl-C or SIGTERM leaves `--out` exactly as it was, never a mix of
two runs. `evaluate --out` follows the same rules, and refuses to replace the
folder that holds the model it evaluates.
"""

import argparse
import contextlib
import errno
import json
import os
import re
import sys
import time
import unicodedata
import warnings
from pathlib import Path

import transfer_keras  # noqa: F401  (first: it imports TensorFlow quietly)
import keras
import numpy as np
import tensorflow as tf

from transfer_keras import (
    BACKBONES,
    DataWarning,
    WeightsUnavailableError,
    __version__,
    build_augmentation,
    build_backbone,
    build_classifier,
    build_scratch_classifier,
    cached_weights,
    evaluate_classifier,
    get_backbone_spec,
    keras_cache_dir,
    list_backbones,
    load_image_folder,
    load_model,
    train_two_stage,
)
from transfer_keras import efficientnet_lite, kit, layout
from transfer_keras._checks import check_seed
from transfer_keras._files import (
    Terminated,
    sigterm_as_interrupt,
    staged_folder,
    unexpected_files,
)
from transfer_keras._table import Table
from transfer_keras.backbones import check_input_shape
from transfer_keras.data import folder_layout
from transfer_keras.data.folders import (
    SPLIT_FOLDER_NAMES,
    TRAIN_TEST_LAYOUT,
    read_image,
    class_folders_named_like_splits,
    list_files,
)
from transfer_keras.errors import ResourceUnavailableError, UsageError
from transfer_keras.evaluation import num_classes_of, predict_probabilities
from transfer_keras.reports import (
    backbone_phrase,
    epochs_phrase,
    evaluate_report,
    fine_tune_extent,
    showcase_report,
    train_report,
    write_outputs,
)
from transfer_keras.showcase import (
    SHOWCASE_BACKBONE,
    SHOWCASE_CURVE,
    SHOWCASE_IMAGE_SIZE,
    run_showcase,
)
from transfer_keras.callbacks import BatchNormRecalibration, TransferHistory
from transfer_keras.scratch import rebatch_for_steps, train_from_scratch
from transfer_keras.stages import DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_HEAD_EPOCHS, set_seed

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
SCRATCH_PATIENCE = 10  # epochs without progress before training from scratch stops
SCRATCH_MIN_STEPS = 8  # training steps per epoch at least, from scratch (smaller batches)
MAX_IMAGE_SIZE = 1024  # pixels per side; larger images exhaust a laptop's memory
DEFAULT_BACKBONE = SHOWCASE_BACKBONE  # strong, and its ImageNet weights work offline
CLASS_NAMES_FILE = "class_names.json"  # read for models saved by earlier versions

__all__ = ["UsageError", "build_parser", "main"]  # UsageError: from errors.py


# --------------------------------------------------------------------------- small helpers


def _say(message=""):
    print(message, flush=True)


def _note(message):
    print(f"note: {message}", file=sys.stderr, flush=True)


# Library messages spell fixes as Python arguments; a command-line user needs flags.
_CLI_SPELLING = [
    (re.compile(r"\bweights=None\b"), "--weights none"),
    (re.compile(r"\bweights='([^']*)'"), r"--weights \1"),
    (re.compile(r"`image_size=\((\d+), \1\)`"), r"--image-size \1"),
    (re.compile(r"`image_size`"), "--image-size"),
    (re.compile(r"`weights` file"), "--weights file"),
    (re.compile(r"`alpha`"), "--alpha"),
    (re.compile(r"`labels_per_class`"), "--curve"),
    (re.compile(r"`seeds`"), "--seeds"),
    (re.compile(r"'imagenet' or None\b"), "imagenet or none"),
]


def _cli_spelling(message):
    """A library message with its fixes spelled as flags (`weights=None` -> `--weights none`)."""
    for pattern, replacement in _CLI_SPELLING:
        message = pattern.sub(replacement, message)
    return message


def _os_error_message(error):
    """One line for an `OSError`: what went wrong and the path, no traceback."""
    if not error.filename:
        return str(error)
    paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p)
    return f"{error.strerror or type(error).__name__}: {paths}"


# --------------------------------------------------------------------------- folders


def _existing_folder(path, what):
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"{what} {str(path)!r} does not exist (current folder: "
                         f"{os.getcwd()}). Check the path.")
    if not folder.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a file; give the folder that holds one "
                         f"sub-folder per class.")
    return folder


def _check_out(out, data_dir=None, overwrite=False, model_path=None):
    """The `--out` folder, checked but not created: not a file, not in DATA_DIR, not
    holding an earlier run (unless `overwrite`), and writable.

    The run is built in a hidden folder beside `--out` and renamed into place at
    the end (`staged_folder`), so the folder that holds `--out` must be writable.
    Raises UsageError (exit 2) for a path the user should change, `OSError`
    (exit 1) when this machine does not let us write there.
    """
    if not str(out).strip():
        raise UsageError("--out is empty; give a folder for the outputs, e.g. --out run1.")
    folder = Path(out).expanduser().resolve()
    _refuse_the_current_folder(out, folder)
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        if folder == data or data in folder.parents:
            where = "is" if folder == data else "is inside"
            raise UsageError(f"--out {str(out)!r} {where} DATA_DIR {str(data)!r}: the "
                             f"outputs would be mixed with the images (and read as a class "
                             f"next time). Give a folder outside it, e.g. --out "
                             f"{data.name}_run.")
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is inside the file {str(existing)!r}"
        raise UsageError(f"--out {str(out)!r} {where}; give a folder for the outputs.")
    if existing == folder:
        _check_earlier_run(out, folder, overwrite, model_path)
        existing = next(path for path in folder.parents if path.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, f"Permission denied: cannot write the --out folder "
                                    f"{str(out)!r} in", str(existing))
    return folder


def _refuse_the_current_folder(out, folder):
    """A finished run replaces `--out` as a whole (renamed into place): a shell
    whose current folder is `--out`, or inside it, would be left in a deleted folder."""
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder is already gone
        return
    if folder.exists() and (folder == here or folder in here.parents):
        what = "the current folder" if folder == here else "a folder around the current one"
        raise UsageError(f"--out {str(out)!r} is {what} ({folder}): a finished run replaces "
                         f"--out as a whole, which would leave this shell in a deleted "
                         f"folder. Run from outside it: cd {folder.parent} and pass --out "
                         f"{folder.name}.")


def _check_earlier_run(out, folder, overwrite, model_path):
    """Refuses an `--out` that holds files, unless `--overwrite` may replace them all."""
    entries = sorted(entry.name for entry in folder.iterdir())
    if not entries:
        return
    shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
    if not overwrite:
        raise UsageError(f"--out {str(out)!r} already holds files ({shown}), e.g. an "
                         f"earlier run: nothing was changed. Give a new folder, or pass "
                         f"--overwrite to replace its content once this run succeeds.")
    unexpected = unexpected_files(folder)
    if unexpected:
        raise UsageError(f"--overwrite replaces the whole folder {str(out)!r}, but it holds "
                         f"entries transfer-keras does not write ({', '.join(unexpected)}): "
                         f"nothing was changed. Move them away or give another --out.")
    if model_path is not None and folder in Path(model_path).expanduser().resolve().parents:
        raise UsageError(f"--out {str(out)!r} holds the model being evaluated, and "
                         f"--overwrite would replace it: nothing was changed. Write the "
                         f"evaluation to its own folder, e.g. --out "
                         f"{Path(out) / 'evaluation'}.")


@contextlib.contextmanager
def _writing_to(out, interrupted_note=None):
    """Yields a hidden staging folder that becomes `out` when the block succeeds.

    On an error or interrupt `out` is left exactly as it was, and the command
    says so; after an interrupt, `interrupted_note()` adds what was lost (e.g.
    a finished stage 1).
    """
    try:
        with staged_folder(out) as staging:
            yield staging
    except (KeyboardInterrupt, OSError) as error:
        lost = interrupted_note() if interrupted_note and isinstance(
            error, KeyboardInterrupt) else ""
        _note(f"nothing was written: {out} is as it was before this run{lost}.")
        raise


# --------------------------------------------------------------------------- arguments


def _backbone_kwargs(spec, alpha):
    if alpha is None:
        return {}
    if "alpha" not in spec.kwargs:
        with_alpha = [name for name, row in BACKBONES.items() if "alpha" in row.kwargs]
        raise UsageError(f"--alpha applies to the MobileNet family ({', '.join(with_alpha)});"
                         f" backbone {spec.name!r} has no width multiplier. Drop --alpha.")
    return {"alpha": alpha}


def _weights_argument(weights):
    """`imagenet`, `none` or an existing file path -> what `build_classifier` takes."""
    if weights.lower() == "imagenet":
        return "imagenet"
    if weights.lower() == "none":
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UsageError(f"--weights {weights!r} is not 'imagenet', 'none' or an existing "
                         f"weights file. Check the path (a .h5 or .weights.h5 file saved "
                         f"for the same backbone and --alpha).")
    return str(path)


def _check_epochs(epochs, fine_tune_epochs):
    if epochs < 1:
        raise UsageError(f"--epochs must be 1 or more; received {epochs}. Stage 1 trains "
                         f"the new head, which fine-tuning needs (to skip fine-tuning, "
                         f"pass --fine-tune-epochs 0).")
    if fine_tune_epochs < 0:
        raise UsageError(f"--fine-tune-epochs must be 0 (no fine-tuning) or more; received "
                         f"{fine_tune_epochs}.")


def _check_fine_tune_layers(backbone, num_layers):
    if num_layers is not None and num_layers > len(backbone.layers):
        raise UsageError(f"--fine-tune-layers {num_layers} is more than the "
                         f"{len(backbone.layers)} layers of this backbone. Give at most "
                         f"{len(backbone.layers)}, or leave it out to fine-tune "
                         f"{fine_tune_extent(None)}.")


def _explain_reserved_names(error, folder):
    """`error` as a UsageError, with why classes cannot be named train, val, ... if
    that is the cause; `error` itself otherwise."""
    names = class_folders_named_like_splits(folder)
    if not names:
        return error
    return UsageError(
        f"{error} Note: folders named {', '.join(SPLIT_FOLDER_NAMES)} mark the split "
        f"folders of a dataset (DATA_DIR/train/<class>/..., DATA_DIR/val/<class>/...), so "
        f"they cannot be class names, even with --validation-split; here "
        f"{', '.join(names)} hold(s) images directly. Rename the class folder(s), e.g. "
        f"{names[0]} -> {names[0]}_class (the folder names become the class names).")


def _layout(folder, validation_split):
    """`validation_split` for `folder`'s layout (0.2 by default for class folders)."""
    try:
        kind = folder_layout(folder)
    except ValueError as error:
        raise _explain_reserved_names(error, folder) from None
    if kind != "split folders":  # class folders, or train/ and test/: no validation folder
        if kind == TRAIN_TEST_LAYOUT and validation_split is None:
            _say(f"{folder} has train/ and test/ but no validation folder: holding out 20% "
                 f"of train/ for validation (--validation-split), so that test/ stays "
                 f"unseen until the final score")
        return validation_split or 0.2
    if validation_split is not None:
        raise _explain_reserved_names(UsageError(
            f"--validation-split cannot be used with {str(folder)!r}: it has its own "
            f"validation folder (val/, valid/ or validation/). Drop --validation-split."),
            folder)
    return None


def _load_training_folder(settings, args):
    try:
        return load_image_folder(settings["data_dir"], settings["image_size"],
                                 batch_size=args.batch_size,
                                 validation_split=settings["validation_split"],
                                 seed=args.seed)
    except ValueError as error:
        raise _explain_reserved_names(error, settings["data_dir"]) from None


def _train_settings(args):
    """Checks every `train` argument without reading an image or creating a folder.

    Builds the backbone once (resolving its weights: offline, missing ImageNet
    weights fail here with exit 1) to know its layer count. Returns the settings
    that `train_report` records.
    """
    spec = get_backbone_spec(args.backbone)
    image_size = args.image_size or spec.default_size
    input_shape = check_input_shape(spec, (image_size, image_size, 3))
    kwargs = _backbone_kwargs(spec, args.alpha)
    weights = _weights_argument(args.weights)
    _check_epochs(args.epochs, args.fine_tune_epochs)
    if weights is None and args.fine_tune_layers is not None:
        raise UsageError("--fine-tune-layers does not apply to --weights none: training "
                         "from scratch trains every layer. Drop --fine-tune-layers, or "
                         "start from pretrained weights (--weights imagenet).")
    folder = _existing_folder(args.data_dir, "DATA_DIR")
    validation_split = _layout(folder, args.validation_split)
    backbone = build_backbone(spec.name, input_shape, weights=weights, **kwargs)
    _check_fine_tune_layers(backbone, args.fine_tune_layers)
    return {"data_dir": str(folder), "backbone": spec.name, "backbone_kwargs": kwargs,
            "weights": weights, "from_scratch": weights is None, "image_size": image_size,
            "epochs": args.epochs, "fine_tune_epochs": args.fine_tune_epochs,
            "fine_tune_layers": args.fine_tune_layers, "augment": args.augment,
            "batch_size": args.batch_size, "validation_split": validation_split,
            "seed": args.seed}


# --------------------------------------------------------------------------- demo


def run_demo(args):
    """Transfer on the kit's ants/bees photos against every baseline (`run_showcase`)."""
    out = _check_out(args.out, overwrite=args.overwrite)
    kit.example_photos_folder()  # KitUnavailableError (exit 1) if the kit is missing
    weights = efficientnet_lite.imagenet_weights()  # converted once; exit 1 if impossible
    _say(f"Ants or bees: {SHOWCASE_BACKBONE} with genuine ImageNet weights ({weights}) "
         f"against every baseline, seeds {' '.join(map(str, args.seeds))}; scored on the "
         f"test photos only")
    with _writing_to(out) as staging:  # out itself changes only at the end
        result = run_showcase(image_size=args.image_size, seeds=tuple(args.seeds),
                              labels_per_class=tuple(args.curve))
        command = ("transfer-keras demo --seeds " + " ".join(map(str, args.seeds))
                   + " --curve " + " ".join(map(str, args.curve))
                   + f" --image-size {args.image_size}")
        report_md, report_json, figures = showcase_report(result, command)
        written = write_outputs(staging, report_md, report_json, figures, result.model,
                                result.settings["class_names"])
    _say()
    _say(str(result.table()))
    _say()
    _say(f"Wrote {', '.join(written)} to {out}")
    _say(f"{result.conclusion()}  ({result.seconds:.0f} s)")
    return EXIT_OK


# --------------------------------------------------------------------------- train


def _build_model(settings, num_classes):
    """The classifier to train: pretrained backbone + new head, or all random (scratch)."""
    size = settings["image_size"]
    backbone = backbone_phrase(settings["backbone"], settings["backbone_kwargs"]).replace("`", "")
    _say(f"Building {backbone} with weights "
         f"{settings['weights'] or 'random (none): training from scratch'}")
    build = build_scratch_classifier if settings["from_scratch"] else build_classifier
    weights = {} if settings["from_scratch"] else {"weights": settings["weights"]}
    model = build(settings["backbone"], num_classes, (size, size, 3), **weights,
                  **settings["backbone_kwargs"])
    settings["weights_file"] = layout.backbone_of(model).weights_file
    if settings["weights_file"]:
        _say(f"Weights from {settings['weights_file']}")
    return model


def _fit(model, data, args, settings, finished):
    """Trains `model` as `settings` say; appends each finished stage to `finished`.

    Pretrained weights: stage 1 (head on the frozen backbone), then stage 2
    (fine-tuning). Random weights (`--weights none`): one stage that trains the
    whole network, BatchNorm included: a frozen random backbone has nothing to
    transfer, and its frozen random BatchNorm statistics would spoil fine-tuning.
    """
    augment = build_augmentation(seed=args.seed) if args.augment else None
    if settings["from_scratch"]:
        _say(f"From scratch: every layer trains (BatchNorm too), {epochs_phrase(args.epochs)} at "
             f"most, early stopping after {SCRATCH_PATIENCE} without progress; no stage 2 "
             f"(--fine-tune-epochs does not apply)" + _augmented(args))
        start = time.perf_counter()
        train_ds = _scratch_batches(data, args.batch_size)
        history = train_from_scratch(model, train_ds, data.val_ds, epochs=args.epochs,
                                     patience=SCRATCH_PATIENCE, augment=augment, verbose=2,
                                     callbacks=[BatchNormRecalibration(train_ds)])
        finished.append("scratch")
        return TransferHistory.from_stages(history, seconds={"scratch": time.perf_counter() - start})
    if args.fine_tune_epochs:
        _say(f"Stage 1: frozen backbone, {epochs_phrase(args.epochs)} for the head; then stage 2: "
             f"fine-tuning {fine_tune_extent(args.fine_tune_layers)} for "
             f"{epochs_phrase(args.fine_tune_epochs)}" + _augmented(args))
    else:
        _say(f"Stage 1 only: frozen backbone, {epochs_phrase(args.epochs)} for the head; no "
             f"fine-tuning (--fine-tune-epochs 0)" + _augmented(args))

    def after_head(model):
        finished.append("head")
        if args.fine_tune_epochs:
            _say("Stage 1 done (the head is trained). Stage 2: fine-tuning")

    history = train_two_stage(
        model, data.train_ds, data.val_ds, head_epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs, num_layers=args.fine_tune_layers,
        verbose=2, augment=augment, after_head=after_head)
    finished.append("fine_tune")
    return history


def _scratch_batches(data, batch_size):
    """The training batches for training from scratch: at least `SCRATCH_MIN_STEPS`
    per epoch, so early stopping's patience (in epochs) gives the network enough steps."""
    num_images = sum(data.report.counts["train"].values())
    train_ds, smaller = rebatch_for_steps(data.train_ds, num_images, batch_size,
                                          SCRATCH_MIN_STEPS)
    if smaller is not None:
        _say(f"Batches of {smaller} instead of {batch_size}: {num_images} training images "
             f"give {SCRATCH_MIN_STEPS} steps per epoch (a network learning from scratch "
             f"needs many small steps)")
    return train_ds


def _augmented(args):
    return " on augmented photos" if args.augment else ""


def _stage_note(finished):
    """What an interrupt threw away, for `_writing_to`: a finished stage 1, if any."""
    if finished == ["head"]:
        return ("; stage 1 had finished (the head was trained), but its model was "
                "discarded with the rest of this run, which saves only at the end. To keep "
                "a stage-1 model, run again with --fine-tune-epochs 0")
    return ""


def _score(model, data):
    """Evaluates on the validation part and, if there is one, the test/ folder."""
    evaluation = evaluate_classifier(model, data.val_ds, data.class_names)
    _say()
    _say("On the validation part (early stopping watched it: slightly optimistic):")
    _say(str(evaluation))
    test = None
    if data.test_ds is not None:  # a test/ folder: scored once, no choice looked at it
        test = evaluate_classifier(model, data.test_ds, data.class_names)
        _say()
        _say("On the test/ folder (held out from every choice):")
        _say(str(test))
    return evaluation, test


def run_train(args):
    """Two-stage transfer learning (or training from scratch) on an image folder;
    writes the model and its report."""
    start = time.perf_counter()
    out = _check_out(args.out, data_dir=args.data_dir, overwrite=args.overwrite)
    settings = _train_settings(args)  # builds the backbone: after the quick checks
    set_seed(args.seed)  # and op determinism: the same seed gives the same numbers
    size = settings["image_size"]
    _say(f"Reading {settings['data_dir']} at {size}x{size}")
    data = _load_training_folder(settings, args)
    _say(str(data.report))
    _say()
    model = _build_model(settings, len(data.class_names))
    finished = []
    with _writing_to(out, lambda: _stage_note(finished)) as staging:
        history = _fit(model, data, args, settings, finished)
        evaluation, test = _score(model, data)
        seconds = time.perf_counter() - start
        report = train_report(data, model, history, evaluation, settings, seconds, test)
        written = write_outputs(staging, *report, model=model, class_names=data.class_names)
    _say()
    _say(f"Wrote {', '.join(written)} to {out} (the model carries its class names)")
    _say(f"Validation accuracy {evaluation.accuracy:.4f}"
         + (f", test accuracy {test.accuracy:.4f}" if test is not None else "")
         + f" ({seconds:.0f} s)")
    return EXIT_OK


# --------------------------------------------------------------------------- class names


def _class_names_for(model, model_path, num_classes):
    """Returns `(class names, where they came from)` for a model loaded from a file.

    Takes the names stored in the model file (`model.class_names`, set by
    `load_model`); for older files, `class_names.json` beside the model, then
    the `class_names` in a `report.json` beside it; else the class indices
    "0", "1", ... with `None` as their source.
    """
    if getattr(model, "class_names", None) is not None:
        return list(model.class_names), str(model_path)
    folder = Path(model_path).expanduser().parent
    for file_name in (CLASS_NAMES_FILE, "report.json"):
        path = folder / file_name
        if not path.is_file():
            continue
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise UsageError(f"{path} is not valid JSON; delete it or write the class "
                             f"names as a JSON list, e.g. [\"ants\", \"bees\"].") from None
        if file_name == "report.json":
            names = names.get("class_names") if isinstance(names, dict) else None
            if names is None:
                continue
        if not isinstance(names, list) or len(names) != num_classes:
            raise UsageError(f"{path} lists {len(names) if isinstance(names, list) else 0} "
                             f"class name(s) but the model predicts {num_classes} classes: "
                             f"the file belongs to another model. Fix or delete it.")
        return [str(name) for name in names], str(path)
    return [str(index) for index in range(num_classes)], None


def _input_size(model):
    shape = model.input_shape
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
        raise UsageError(f"The model takes inputs of shape {shape}; predict and evaluate "
                         f"need a model of RGB images of a fixed size, as `train` writes.")
    return int(shape[1]), int(shape[2])


def _load_model(path):
    path = Path(path).expanduser()
    if path.is_dir():
        inside = path / "model.keras"
        raise UsageError(f"Model file {str(path)!r} is a folder; give the model file "
                         + (f"inside it: {inside}" if inside.is_file() else
                            "(model.keras) that `transfer-keras train` or `demo` wrote")
                         + ".")
    if not path.is_file():
        raise UsageError(f"Model file {str(path)!r} does not exist. Give the model.keras "
                         f"file written by `transfer-keras train` or `demo`.")
    try:
        return load_model(path, compile=False)
    except ValueError as error:  # not a Keras model: the library names its argument `path`
        raise UsageError(str(error).replace("`path`", "MODEL", 1)) from None


# --------------------------------------------------------------------------- predict


def _image_files(path):
    """`(root, files, skipped)`: one file, or the files under a folder, walked as
    `load_image_folder` walks it (hidden entries, unreadable folders and link
    loops come back in `skipped` with the reason; broken links, FIFOs and
    devices are files that `load_image` refuses with the reason)."""
    path = Path(path).expanduser()
    if path.is_dir():
        files, skipped = list_files(path)
        if not files:
            raise UsageError(f"Folder {str(path)!r} holds no files to predict.")
        return path, files, [(str(p.relative_to(path)), reason) for p, reason in skipped]
    if path.exists() or path.is_symlink():
        return path.parent, [path], []
    raise UsageError(f"Image or folder {str(path)!r} does not exist. Check the path.")


def run_predict(args):
    if args.top_k < 1:
        raise UsageError(f"--top-k must be 1 or more; received {args.top_k}.")
    root, files, skipped = _image_files(args.images)
    model = _load_model(args.model)
    size = _input_size(model)
    num_classes = num_classes_of(model)
    class_names, names_from = _class_names_for(model, args.model, num_classes)
    if names_from is None:
        _note(f"no class names in {args.model} (nor a {CLASS_NAMES_FILE} beside it): "
              f"showing class indices 0..{num_classes - 1} instead of names.")

    images, names = [], []
    for file in files:  # read as `load_image` reads them; the reason says why not
        _, pixels, reason = read_image(file, size)  # not an image, corrupt, unreadable
        if reason:
            skipped.append((str(file.relative_to(root)), reason))
        else:
            images.append(pixels)
            names.append(str(file.relative_to(root)))
    for name, reason in skipped:
        _note(f"skipped {name}: {reason}")
    if not images:
        raise UsageError(f"None of the {len(files)} file(s) is a readable image.")

    probabilities = predict_probabilities(model, np.stack(images))
    top_k = min(args.top_k, num_classes)
    results = []
    for name, row in zip(names, probabilities):
        best = np.argsort(-row)[:top_k]
        results.append({"file": name,
                        "predictions": [{"class": class_names[i],
                                         "probability": round(float(row[i]), 4)}
                                        for i in best]})
    if args.json:
        print(json.dumps({"model": str(args.model), "class_names": class_names,
                          "class_names_from": names_from, "results": results,
                          "skipped": [{"file": f, "reason": r} for f, r in skipped]},
                         indent=2))
        return EXIT_OK
    columns = ["file"] + [f"top-{i}" for i in range(1, top_k + 1)]
    rows = [{"file": result["file"],
             **{f"top-{i}": f"{p['class']} ({p['probability']:.3f})"
                for i, p in enumerate(result["predictions"], start=1)}}
            for result in results]
    print(Table(columns, rows, title=f"Predictions of {args.model} "
                                     f"({len(rows)} image(s))"))
    return EXIT_OK


# --------------------------------------------------------------------------- evaluate


def _folder_to_model_labels(folder, folder_names, model_names, names_from, model_path):
    """Returns `(class names of the model, array: folder label -> model label)`."""
    if names_from is None:
        if len(folder_names) != len(model_names):
            raise UsageError(
                f"No class names in {model_path} (nor a {CLASS_NAMES_FILE} beside it), and "
                f"the folder has {len(folder_names)} classes while the model predicts "
                f"{len(model_names)}: cannot tell which folder is which class. Save the "
                f"model with its class names, in label order (save_model(model, path, "
                f"class_names=[...])), or put them in {CLASS_NAMES_FILE} beside it.")
        _note(f"no class names in {model_path} (nor a {CLASS_NAMES_FILE} beside it): "
              f"assuming the folders, sorted ({', '.join(folder_names)}), are classes "
              f"0..{len(model_names) - 1}.")
        model_names = list(folder_names)
    # Names compare in Unicode's NFC form, as `load_image_folder` gives them: a model
    # trained on folders from macOS may hold decomposed names ("e" + accent).
    known = [unicodedata.normalize("NFC", str(name)) for name in model_names]
    unknown = [name for name in folder_names if name not in known]
    if unknown:
        raise UsageError(f"Class folder(s) {', '.join(unknown)} in {folder} are not classes "
                         f"of the model, which knows: {', '.join(model_names)}. Rename or "
                         f"remove those folders.")
    # Folder label i is the folder folder_names[i]; the model's label is its position
    # in model_names.
    return model_names, np.array([known.index(name) for name in folder_names])


def run_evaluate(args):
    """Scores a saved model on a labelled image folder; optionally writes the report."""
    folder = _existing_folder(args.data_dir, "DATA_DIR")
    out = None if args.out is None else _check_out(args.out, data_dir=folder,
                                                   overwrite=args.overwrite,
                                                   model_path=args.model)
    model = _load_model(args.model)
    size = _input_size(model)
    num_classes = num_classes_of(model)
    model_names, names_from = _class_names_for(model, args.model, num_classes)

    data = load_image_folder(folder, size, batch_size=args.batch_size, shuffle=False)
    _say(str(data.report))
    _say()
    report = data.report
    # With split folders the last held-out part is scored: test/, else the validation part.
    part = next((split for split in ("test", "val") if split in report.counts), "train")
    images, labels = getattr(report, f"{part}_images"), getattr(report, f"{part}_labels")
    if part != "train":
        others = [split for split in report.counts if split != part]
        _say(f"Evaluating on the held-out {part} part ({len(labels)} images); the "
             f"{' and '.join(others)} part{'s are' if len(others) > 1 else ' is'} not scored.")
    model_names, to_model_label = _folder_to_model_labels(
        folder, data.class_names, model_names, names_from, args.model)
    evaluation = evaluate_classifier(model, (images, to_model_label[labels]), model_names,
                                     batch_size=args.batch_size)
    print(evaluation)
    if out is not None:
        with _writing_to(out) as staging:
            written = write_outputs(staging, *evaluate_report(data, evaluation, args.model,
                                                              names_from, part))
        _say(f"Wrote {', '.join(written)} to {out}")
    return EXIT_OK


# --------------------------------------------------------------------------- backbones, prefetch


def run_backbones(args):
    print(list_backbones())
    print(f"\nWeights cache: {keras_cache_dir()} (Keras's cache; set KERAS_HOME to use "
          f"another folder, or fill it with `transfer-keras prefetch`).")
    return EXIT_OK


def _prefetch_backbone(name, image_size, alpha):
    spec = get_backbone_spec(name)
    size = image_size or spec.default_size
    kwargs = _backbone_kwargs(spec, alpha)
    backbone = build_backbone(spec.name, (size, size, 3), weights="imagenet", **kwargs)
    wanted = keras_cache_dir() / backbone.weights_requested
    if Path(backbone.weights_file) != wanted or not wanted.is_file():
        # Offline, `build_backbone` falls back to a file for another input size:
        # fine for this machine, but nothing was cached for the others.
        raise WeightsUnavailableError(
            f"The download of {wanted.name} failed, so nothing was written to the Keras "
            f"cache {wanted.parent}. (This machine can still build {spec.name!r} offline "
            f"from {backbone.weights_file}, the same ImageNet weights for another input "
            f"size, but copying the cache would not give them to other machines.) Run "
            f"this command again on a machine with internet access.")
    files = ", ".join(path.name for path in cached_weights(spec.name))
    return f"{spec.name} at {size} px: {files}"


def _prefetch_fashion_mnist():
    keras.datasets.fashion_mnist.load_data()
    return f"Fashion-MNIST in {keras_cache_dir().parent / 'datasets' / 'fashion-mnist'}"


def run_prefetch(args):
    if not args.backbones and not args.datasets:
        raise UsageError("Nothing to prefetch: give --backbones NAME [NAME ...] and/or "
                         "--datasets fashion_mnist.")
    specs = [get_backbone_spec(name) for name in args.backbones or []]  # check names first
    for spec in specs:
        check_input_shape(spec, None if args.image_size is None
                          else (args.image_size, args.image_size, 3))
        _backbone_kwargs(spec, args.alpha)
    jobs = [(spec.name, lambda spec=spec: _prefetch_backbone(spec.name, args.image_size,
                                                              args.alpha))
            for spec in specs]
    jobs += [("fashion_mnist", _prefetch_fashion_mnist) for _ in args.datasets or []]

    rows, failures = [], []
    for item, job in jobs:
        _say(f"Fetching {item} ...")
        try:
            detail = job()
        except WeightsUnavailableError as error:
            failures.append((item, _cli_spelling(str(error))))
            rows.append({"item": item, "status": "failed",
                         "detail": "download failed (see below)"})
        except Exception as error:  # no network, proxy, full disk: report, go on
            failures.append((item, f"{type(error).__name__}: {error}"))
            rows.append({"item": item, "status": "failed",
                         "detail": "download failed (see below)"})
        else:
            rows.append({"item": item, "status": "ok", "detail": detail})
    _say()
    _say(str(Table(["item", "status", "detail"], rows, title="Prefetch")))
    home = keras_cache_dir().parent
    for item, message in failures:
        _say(f"\n{item} failed:\n{message}")
    if failures:
        print(f"\nerror: {len(failures)} of {len(rows)} item(s) could not be fetched. This "
              f"command needs internet access: run it on a machine that has it, then copy "
              f"its Keras folder {home} to the offline machines (see below).",
              file=sys.stderr)
    _say(f"\nTo use these files on offline classroom machines, copy the Keras folder "
         f"{home} to the same place there, e.g.\n"
         f"    rsync -a {home}/ student@host:~/.keras/\n"
         f"or with a USB stick; or put it anywhere and set KERAS_HOME to that folder "
         f"before running Python (export KERAS_HOME=/path/to/keras_folder).")
    return EXIT_FAILED if failures else EXIT_OK


# --------------------------------------------------------------------------- the parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


MAX_BATCH_SIZE = 4096


def _batch_size(text):
    value = _positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_BATCH_SIZE}, got {value}: a batch is held in memory at "
            f"once (32 or 64 suit most machines)")
    return value


def _seed(text):
    try:
        return check_seed(int(text))
    except ValueError as error:  # not a number, or out of range
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 2**32 - 1, got {text!r}") from None


def _image_side(text):
    value = _positive_int(text)
    if value > MAX_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_IMAGE_SIZE} pixels, got {value}: images that large "
            f"exhaust the memory (the backbones' ImageNet sizes are at most "
            f"{max(spec.default_size for spec in BACKBONES.values())})")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.2, got {text!r}") \
            from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.2), got {value}")
    return value


def _add_overwrite(command):
    command.add_argument("--overwrite", action="store_true",
                         help="replace the content of a non-empty --out that holds an "
                              "earlier run (only once this run succeeds)")


def _add_demo(commands):
    demo = commands.add_parser(
        "demo", help="the whole story offline: real photos, ImageNet weights, every baseline",
        description="Transfers genuine ImageNet EfficientNet-Lite0 features to the "
                    "embedded ants/bees photos and compares, on test photos no choice "
                    "looked at, the majority class, logistic regression on pixels, the "
                    "ImageNet head's own ant/bee classes, a small CNN from scratch, a "
                    "linear probe, the frozen backbone and the fine-tuned model (mean and "
                    "std over seeds), plus a data-efficiency curve. Offline, about six "
                    "minutes on a 2-core CPU.")
    demo.add_argument("--out", default="transfer_keras_demo",
                      help="output folder, new or empty (default: ./transfer_keras_demo)")
    _add_overwrite(demo)
    demo.add_argument("--seeds", type=_seed, nargs="+", metavar="SEED", default=[0, 1, 2],
                      help="one run per seed; the same seeds give the same numbers "
                           "(default: 0 1 2)")
    demo.add_argument("--curve", type=_positive_int, nargs="*", metavar="N",
                      default=list(SHOWCASE_CURVE),
                      help="smaller training sets of the data-efficiency curve, in labels "
                           "per class (default: 10)")
    demo.add_argument("--image-size", type=_image_side, default=SHOWCASE_IMAGE_SIZE,
                      help=f"photo side in pixels (default: {SHOWCASE_IMAGE_SIZE})")
    demo.set_defaults(run=run_demo)


def _add_train(commands):
    train = commands.add_parser(
        "train", help="two-stage transfer learning on your image folder",
        description="Trains a classifier on DATA_DIR (one sub-folder per class, or train/ "
                    "and val/ folders, maybe test/): stage 1 trains a new head on the "
                    f"frozen backbone, stage 2 fine-tunes {fine_tune_extent(None)} "
                    "(--fine-tune-layers N: the top N layers; BatchNorm stays frozen). "
                    "Writes model.keras (with its class names), report.md, report.json and "
                    "figures to --out.")
    train.add_argument("data_dir", metavar="DATA_DIR", help="the image folder")
    train.add_argument("--backbone", default=DEFAULT_BACKBONE,
                       help=f"backbone name (see `transfer-keras backbones`; default: "
                            f"{DEFAULT_BACKBONE}, whose ImageNet weights work offline)")
    train.add_argument("--alpha", type=float, default=None,
                       help="width multiplier of the MobileNet family, e.g. 0.25 "
                            "(default: the backbone's, 1.0)")
    train.add_argument("--image-size", type=_image_side, default=None,
                       help="image side in pixels, at most %d (default: the backbone's "
                            "ImageNet size)" % MAX_IMAGE_SIZE)
    train.add_argument("--weights", default="imagenet",
                       help="'imagenet' (Keras cache or download), 'none' (random) or a "
                            "weights file path (default: imagenet)")
    train.add_argument("--epochs", type=int, default=DEFAULT_HEAD_EPOCHS,
                       help=f"stage-1 (head) epochs at most, 1 or more; early stopping "
                            f"ends it sooner (default: {DEFAULT_HEAD_EPOCHS})")
    train.add_argument("--fine-tune-epochs", type=int, default=DEFAULT_FINE_TUNE_EPOCHS,
                       help=f"stage-2 epochs at most, 0 to skip fine-tuning (default: "
                            f"{DEFAULT_FINE_TUNE_EPOCHS})")
    train.add_argument("--fine-tune-layers", type=_positive_int, default=None,
                       help=f"unfreeze the last N backbone layers (default: "
                            f"{fine_tune_extent(None)}; BatchNorm stays frozen)")
    train.add_argument("--augment", action="store_true",
                       help="fine-tune on randomly flipped, rotated, zoomed and "
                            "contrast-changed photos (stage 1 stays on cached features); "
                            "recommended for a few hundred photos")
    train.add_argument("--batch-size", type=_batch_size, default=32,
                       help="images per batch (default: 32)")
    train.add_argument("--validation-split", type=_fraction, default=None,
                       help="fraction of each class held out for validation (default: "
                            "0.2, or the val/ folder when there is one)")
    train.add_argument("--seed", type=_seed, default=0,
                       help="random seed; the same seed gives the same numbers (default: 0)")
    train.add_argument("--out", required=True,
                       help="output folder, new or empty, outside DATA_DIR (written "
                            "when the run succeeds)")
    _add_overwrite(train)
    train.set_defaults(run=run_train)


def _add_predict_and_evaluate(commands):
    predict = commands.add_parser(
        "predict", help="classify images with a saved model",
        description="Prints the top-k classes of each image. Class names come from "
                    "the model file (train and demo store them there); for older "
                    "models, from class_names.json beside it.")
    predict.add_argument("model", metavar="MODEL", help="a model.keras file")
    predict.add_argument("images", metavar="IMAGE_OR_DIR",
                         help="an image file, or a folder (read recursively)")
    predict.add_argument("--top-k", type=int, default=3,
                         help="classes to show per image (default: 3)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.set_defaults(run=run_predict)

    evaluate = commands.add_parser(
        "evaluate", help="score a saved model on a labelled image folder",
        description="Accuracy, per-class precision/recall/F1 and the confusion matrix of "
                    "MODEL on DATA_DIR (one sub-folder per class, named like the model's "
                    "classes; with split folders the last held-out part is scored: "
                    "test/, else val/).")
    evaluate.add_argument("model", metavar="MODEL", help="a model.keras file")
    evaluate.add_argument("data_dir", metavar="DATA_DIR", help="the labelled image folder")
    evaluate.add_argument("--batch-size", type=_batch_size, default=32,
                          help="images per batch (default: 32)")
    evaluate.add_argument("--out", default=None,
                          help="also write report.md, report.json and confusion_matrix.png "
                               "to this folder (new or empty, outside DATA_DIR, not the "
                               "model's own folder)")
    _add_overwrite(evaluate)
    evaluate.set_defaults(run=run_evaluate)


def _add_backbones_and_prefetch(commands):
    backbones = commands.add_parser(
        "backbones", help="list the supported backbones",
        description="The supported backbones (keras.applications and the project's own "
                    "EfficientNet-Lite0): sizes, feature width, extra arguments, and "
                    "whether ImageNet weights are in the Keras cache.")
    backbones.set_defaults(run=run_backbones)

    prefetch = commands.add_parser(
        "prefetch", help="download weights and data into the Keras cache (needs internet)",
        description="On a machine with internet: downloads ImageNet weights and datasets "
                    "into the Keras cache, then tells you how to copy it to offline "
                    "machines.")
    prefetch.add_argument("--backbones", nargs="+", metavar="NAME", default=[],
                          help="backbone names (see `transfer-keras backbones`)")
    prefetch.add_argument("--image-size", type=_image_side, default=None,
                          help="image side: MobileNet weights differ per size (default: "
                               "each backbone's ImageNet size)")
    prefetch.add_argument("--alpha", type=float, default=None,
                          help="width multiplier of the MobileNet family, e.g. 0.25")
    prefetch.add_argument("--datasets", nargs="+", choices=["fashion_mnist"], default=[],
                          help="datasets to download")
    prefetch.set_defaults(run=run_prefetch)


def build_parser():
    """Returns the `argparse` parser of the `transfer-keras` command."""
    parser = argparse.ArgumentParser(
        prog="transfer-keras",
        description="Transfer learning with Keras 3: train, evaluate and use image "
                    "classifiers built on pretrained backbones.",
        epilog="Exit codes: 0 success, 1 the environment (missing weights or data, "
               "permission denied, disk full), 2 a mistake in the arguments, "
               "130 interrupted (Ctrl-C), 143 terminated (SIGTERM). An interrupted "
               "run leaves --out as it was.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_train(commands)
    _add_predict_and_evaluate(commands)
    _add_backbones_and_prefetch(commands)
    return parser


def _quiet():
    """No duplicate or internal chatter on the terminal: the reports say what matters."""
    warnings.filterwarnings("ignore", category=DataWarning)  # listed in the data report
    # Keras notes that datasets are not reshuffled by fit(shuffle=True); they shuffle
    # themselves (`prepare(..., shuffle=True)`).
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    tf.get_logger().setLevel("ERROR")  # e.g. tf.function retracing notes


def _error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)


def main(argv=None):
    """Runs the `transfer-keras` command; returns the exit code.

    Args:
        argv: the arguments, without the program name. Defaults to `None`
            (`sys.argv[1:]`).

    Returns:
        0 on success, 1 when the environment stops it (missing weights or data,
        an `OSError`), 2 for a user mistake, 130 when interrupted (Ctrl-C), 143
        when terminated (SIGTERM). Other
        exceptions are bugs: they propagate with their traceback.
    """
    args = build_parser().parse_args(argv)  # exits with 2 on a usage error
    _quiet()
    try:
        with sigterm_as_interrupt():  # `kill PID` cleans up like Ctrl-C, then exit 143
            return args.run(args)
    except Terminated:
        _error("terminated (SIGTERM)")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _error("interrupted (Ctrl-C)")
        return EXIT_INTERRUPTED
    except ResourceUnavailableError as error:  # before OSError: these are OSErrors too
        _error(_cli_spelling(str(error)))
        return EXIT_FAILED
    except (ValueError, TypeError) as error:  # UsageError is a ValueError
        _error(_cli_spelling(str(error)))
        return EXIT_USAGE
    except OSError as error:
        _error(_os_error_message(error))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
