"""`transfer-keras train`: two-stage transfer learning (or from scratch) on an image folder."""

import time

from transfer_keras.backbones import build_backbone_with_weights, check_input_shape, \
    get_backbone_spec
from transfer_keras.cli.folders import check_out, existing_folder, writing_to
from transfer_keras.cli.output import EXIT_OK, say
from transfer_keras.cli.parser import backbone_kwargs, weights_argument
from transfer_keras.data import folder_layout, load_image_folder
from transfer_keras.data import (
    SPLIT_FOLDER_NAMES,
    TRAIN_TEST_LAYOUT,
    class_folders_named_like_splits,
)
from transfer_keras.errors import UsageError
from transfer_keras.evaluation import evaluate_classifier
from transfer_keras.models import build_augmentation, build_classifier, build_scratch_classifier
from transfer_keras.reports import (
    backbone_phrase,
    epochs_phrase,
    fine_tune_extent,
    train_report,
    write_outputs,
)
from transfer_keras.scratch import SCRATCH_PATIENCE, fit_from_scratch
from transfer_keras.stages import set_seed
from transfer_keras.training import train_two_stage

# --------------------------------------------------------------------------- the checks


def _check_fine_tune_layers(backbone, num_layers):
    if num_layers is not None and num_layers > len(backbone.layers):
        raise UsageError(f"--fine-tune-layers {num_layers} is more than the "
                         f"{len(backbone.layers)} layers of this backbone. Give at most "
                         f"{len(backbone.layers)}, or leave it out to fine-tune "
                         f"{fine_tune_extent(None)}.")


def explain_reserved_names(error, folder):
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
        raise explain_reserved_names(error, folder) from None
    if kind != "split folders":  # class folders, or train/ and test/: no validation folder
        if kind == TRAIN_TEST_LAYOUT and validation_split is None:
            say(f"{folder} has train/ and test/ but no validation folder: holding out 20% "
                f"of train/ for validation (--validation-split), so that test/ stays "
                f"unseen until the final score")
        return validation_split or 0.2
    if validation_split is not None:
        raise explain_reserved_names(UsageError(
            f"--validation-split cannot be used with {str(folder)!r}: it has its own "
            f"validation folder (val/, valid/ or validation/). Drop --validation-split."),
            folder)
    return None


def _train_settings(args):
    """Checks every `train` argument without reading an image or creating a folder.

    Builds the backbone once (resolving its weights: offline, missing ImageNet
    weights fail here with exit 1) to know its layer count and its weights
    file. Returns `(settings, weights file)`: the settings that `train_report`
    records, and the file the weights come from (None for random weights).
    """
    spec = get_backbone_spec(args.backbone)
    image_size = args.image_size or spec.default_size
    input_shape = check_input_shape(spec, (image_size, image_size, 3))
    kwargs = backbone_kwargs(spec.name, args.alpha)
    weights = weights_argument(args.weights)
    folder = existing_folder(args.data_dir, "DATA_DIR")
    validation_split = _layout(folder, args.validation_split)
    built = build_backbone_with_weights(spec.name, input_shape=input_shape, weights=weights,
                                        **kwargs)
    _check_fine_tune_layers(built.model, args.fine_tune_layers)
    return {"data_dir": str(folder), "backbone": spec.name, "backbone_kwargs": kwargs,
            "weights": weights, "from_scratch": weights is None, "image_size": image_size,
            "epochs": args.epochs, "fine_tune_epochs": args.fine_tune_epochs,
            "fine_tune_layers": args.fine_tune_layers, "augment": args.augment,
            "batch_size": args.batch_size, "validation_split": validation_split,
            "seed": args.seed}, built.weights_file


def _load_training_folder(settings, args):
    try:
        return load_image_folder(settings["data_dir"], settings["image_size"],
                                 batch_size=args.batch_size,
                                 validation_split=settings["validation_split"],
                                 seed=args.seed)
    except ValueError as error:
        raise explain_reserved_names(error, settings["data_dir"]) from None


# --------------------------------------------------------------------------- the model


def _build_model(settings, num_classes, weights_file):
    """The classifier to train: pretrained backbone + new head, or all random (scratch)."""
    size = settings["image_size"]
    backbone = backbone_phrase(settings["backbone"], settings["backbone_kwargs"])
    say(f"Building {backbone.replace('`', '')} with weights "
        f"{settings['weights'] or 'random (none): training from scratch'}")
    build = build_scratch_classifier if settings["from_scratch"] else build_classifier
    weights = {} if settings["from_scratch"] else {"weights": settings["weights"]}
    model = build(settings["backbone"], num_classes, input_shape=(size, size, 3), **weights,
                  **settings["backbone_kwargs"])
    settings["weights_file"] = weights_file  # resolved by `_train_settings`, the same file
    if settings["weights_file"]:
        say(f"Weights from {settings['weights_file']}")
    return model


def _augmented(args):
    return " on augmented photos" if args.augment else ""


def _fit_from_scratch(model, data, args, augment, finished):
    """Random weights (`--weights none`): one stage that trains the whole network,
    BatchNorm included: a frozen random backbone has nothing to transfer, and its
    frozen random BatchNorm statistics would spoil fine-tuning."""
    say(f"From scratch: every layer trains (BatchNorm too), {epochs_phrase(args.epochs)} at "
        f"most, early stopping after {SCRATCH_PATIENCE} without progress; no stage 2 "
        f"(--fine-tune-epochs does not apply)" + _augmented(args))
    num_images = sum(data.report.counts["train"].values())
    history = fit_from_scratch(model, data.train_ds, data.val_ds, num_images=num_images,
                               epochs=args.epochs, batch_size=args.batch_size,
                               augment=augment, verbose=2)
    finished.append("scratch")
    return history


def _fit(model, data, args, settings, finished):
    """Trains `model` as `settings` say; appends each finished stage to `finished`.

    Pretrained weights: stage 1 (head on the frozen backbone), then stage 2
    (fine-tuning); random weights: `_fit_from_scratch`.
    """
    augment = build_augmentation(seed=args.seed) if args.augment else None
    if settings["from_scratch"]:
        return _fit_from_scratch(model, data, args, augment, finished)
    if args.fine_tune_epochs:
        say(f"Stage 1: frozen backbone, {epochs_phrase(args.epochs)} for the head; then stage "
            f"2: fine-tuning {fine_tune_extent(args.fine_tune_layers)} for "
            f"{epochs_phrase(args.fine_tune_epochs)}" + _augmented(args))
    else:
        say(f"Stage 1 only: frozen backbone, {epochs_phrase(args.epochs)} for the head; no "
            f"fine-tuning (--fine-tune-epochs 0)" + _augmented(args))

    def after_head(model):
        finished.append("head")
        if args.fine_tune_epochs:
            say("Stage 1 done (the head is trained). Stage 2: fine-tuning")

    history = train_two_stage(
        model, data.train_ds, data.val_ds, head_epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs, num_layers=args.fine_tune_layers,
        verbose=2, augment=augment, after_head=after_head)
    finished.append("fine_tune")
    return history


def _stage_note(finished):
    """What an interrupt threw away, for `writing_to`: a finished stage 1, if any."""
    if finished == ["head"]:
        return ("; stage 1 had finished (the head was trained), but its model was "
                "discarded with the rest of this run, which saves only at the end. To keep "
                "a stage-1 model, run again with --fine-tune-epochs 0")
    return ""


def _score(model, data):
    """Evaluates on the validation part and, if there is one, the test/ folder."""
    evaluation = evaluate_classifier(model, data.val_ds, class_names=data.class_names)
    say()
    say("On the validation part (early stopping watched it: slightly optimistic):")
    say(str(evaluation))
    test = None
    if data.test_ds is not None:  # a test/ folder: scored once, no choice looked at it
        test = evaluate_classifier(model, data.test_ds, class_names=data.class_names)
        say()
        say("On the test/ folder (held out from every choice):")
        say(str(test))
    return evaluation, test


# --------------------------------------------------------------------------- the command


def run(args):
    """Two-stage transfer learning (or training from scratch) on an image folder;
    writes the model and its report."""
    start = time.perf_counter()
    out = check_out(args.out, data_dir=args.data_dir, overwrite=args.overwrite)
    settings, weights_file = _train_settings(args)  # builds the backbone: after `check_out`
    set_seed(args.seed)  # and op determinism: the same seed gives the same numbers
    size = settings["image_size"]
    say(f"Reading {settings['data_dir']} at {size}x{size}")
    data = _load_training_folder(settings, args)
    say(str(data.report))
    say()
    model = _build_model(settings, len(data.class_names), weights_file)
    finished = []
    with writing_to(out, interrupted_note=lambda: _stage_note(finished)) as staging:
        history = _fit(model, data, args, settings, finished)
        evaluation, test = _score(model, data)
        seconds = time.perf_counter() - start
        report = train_report(data, model, history, evaluation, settings, seconds, test)
        written = write_outputs(staging, *report, model=model, class_names=data.class_names)
    say()
    say(f"Wrote {', '.join(written)} to {out} (the model carries its class names)")
    say(f"Validation accuracy {evaluation.accuracy:.4f}"
        + (f", test accuracy {test.accuracy:.4f}" if test is not None else "")
        + f" ({seconds:.0f} s)")
    return EXIT_OK
