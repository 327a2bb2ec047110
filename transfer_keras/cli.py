"""The `transfer-keras` command: demo, train, predict, evaluate, backbones, prefetch.

    transfer-keras demo                      # the whole story, offline, in about two minutes
    transfer-keras train photos/ --backbone mobilenet --alpha 0.25 --out ants_bees
    transfer-keras predict ants_bees/model.keras photo.jpg
    transfer-keras evaluate ants_bees/model.keras more_photos/
    transfer-keras backbones                 # the table, and which weights are cached
    transfer-keras prefetch --backbones mobilenet --datasets fashion_mnist

Every command that trains writes one output folder: `model.keras` (takes raw
pixels and carries its class names, which `predict` and `evaluate` read back;
it loads with plain Keras too), `report.md`, `report.json` and the figures.
Models saved before the class names moved into the file still work: their
names are read from a `class_names.json` beside them.

Exit codes: 0 success, 1 something could not be done (e.g. a download failed),
2 a mistake the user can fix (the message says how; never a traceback).
"""

import argparse
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import transfer_keras  # noqa: E402, F401  (first: it imports TensorFlow quietly)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from transfer_keras import (  # noqa: E402
    BACKBONES,
    DataWarning,
    WeightsUnavailableError,
    __version__,
    build_augmentation,
    build_backbone,
    build_classifier,
    cached_weights,
    evaluate_classifier,
    get_backbone_spec,
    keras_cache_dir,
    list_backbones,
    load_image_folder,
    load_model,
    save_model,
    train_two_stage,
    trainable_summary,
)
from transfer_keras._files import atomic_path, write_text_atomically  # noqa: E402
from transfer_keras._table import Table  # noqa: E402
from transfer_keras.backbones import check_input_shape  # noqa: E402
from transfer_keras.data import HELD_OUT_FOLDERS, TRAIN_FOLDER, load_image  # noqa: E402
from transfer_keras.evaluation import num_classes_of, predict_probabilities  # noqa: E402
from transfer_keras import kit  # noqa: E402
from transfer_keras.showcase import (  # noqa: E402
    SHOWCASE_CURVE,
    SHOWCASE_IMAGE_SIZE,
    run_showcase,
)
from transfer_keras.reports import showcase_report, write_outputs  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CLASS_NAMES_FILE = "class_names.json"  # read for models saved by earlier versions
MODEL_FILE = "model.keras"

class UsageError(Exception):
    """A mistake on the command line; `main` prints it and exits with code 2."""


# --------------------------------------------------------------------------- small helpers


def _say(message=""):
    print(message, flush=True)


def _note(message):
    print(f"note: {message}", file=sys.stderr, flush=True)


def _json_default(value):
    """Lets `json.dumps` write numpy numbers and arrays and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _write_json(path, data):
    return write_text_atomically(path, json.dumps(data, indent=2, default=_json_default)
                                 + "\n")


def _save_figure(figure, path):
    """Saves a matplotlib Figure as PNG, atomically."""
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=100)
    return Path(path)


def _output_folder(out):
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a folder for the outputs.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _existing_folder(path, what):
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"{what} {str(path)!r} does not exist (current folder: "
                         f"{os.getcwd()}). Check the path.")
    if not folder.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a file; give the folder that holds one "
                         f"sub-folder per class.")
    return folder


def _has_split_folders(folder):
    """True for the `train/` + `val/` layout (load_image_folder then splits itself)."""
    names = {entry.name.lower() for entry in folder.iterdir() if entry.is_dir()}
    return TRAIN_FOLDER in names or bool(names & set(HELD_OUT_FOLDERS))


def _save_outputs(folder, model, class_names, report_md, report_json, figures):
    """Writes the model with its class names first (atomic), then the reports and figures.

    Written in this order so a crash can leave a model without its report, but
    never a report that describes a model that was not saved.
    """
    save_model(model, folder / MODEL_FILE, class_names=list(class_names))
    for name, figure in figures.items():
        _save_figure(figure, folder / name)
    write_text_atomically(folder / "report.md", report_md)
    _write_json(folder / "report.json", report_json)


# --------------------------------------------------------------------------- backbone arguments


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
    return path


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
    if not path.is_file():
        raise UsageError(f"Model file {str(path)!r} does not exist. Give the model.keras "
                         f"file written by `transfer-keras train` or `demo`.")
    return load_model(path, compile=False)


# --------------------------------------------------------------------------- demo


def run_demo(args):
    """Transfer on the kit's ants/bees photos against every baseline (`run_showcase`)."""
    out = _output_folder(args.out)
    _say(f"Ants or bees: {kit.EXAMPLE_BACKBONE} {kit.EXAMPLE_BACKBONE_KWARGS} with genuine "
         f"ImageNet weights ({kit.EXAMPLE_WEIGHTS_FILE}, embedded) against every baseline, "
         f"seeds {' '.join(map(str, args.seeds))}; scored on the test photos only")
    result = run_showcase(image_size=args.image_size, seeds=tuple(args.seeds),
                          labels_per_class=tuple(args.curve))
    command = ("transfer-keras demo --seeds " + " ".join(map(str, args.seeds))
               + " --curve " + " ".join(map(str, args.curve))
               + f" --image-size {args.image_size}")
    report_md, report_json, figures = showcase_report(result, command)
    written = write_outputs(out, report_md, report_json, figures, result.model,
                            result.settings["class_names"])
    _say()
    _say(str(result.table()))
    _say()
    _say(f"Wrote {', '.join(written)} to {out.resolve()}")
    _say(f"{result.conclusion()}  ({result.seconds:.0f} s)")
    return EXIT_OK


# --------------------------------------------------------------------------- train


def run_train(args):
    start = time.perf_counter()
    spec = get_backbone_spec(args.backbone)
    image_size = args.image_size or spec.default_size
    check_input_shape(spec, (image_size, image_size, 3))
    kwargs = _backbone_kwargs(spec, args.alpha)
    weights = _weights_argument(args.weights)
    for name, value in [("--epochs", args.epochs), ("--fine-tune-epochs", args.fine_tune_epochs)]:
        if value < 0:
            raise UsageError(f"{name} must be 0 or more; received {value}.")
    folder = _existing_folder(args.data_dir, "Data folder")
    validation_split = args.validation_split
    if validation_split is None and not _has_split_folders(folder):
        validation_split = 0.2
    out = _output_folder(args.out)
    keras.utils.set_random_seed(args.seed)

    _say(f"Reading {folder} at {image_size}x{image_size}")
    data = load_image_folder(folder, image_size, batch_size=args.batch_size,
                             validation_split=validation_split, seed=args.seed)
    _say(str(data.report))
    _say()
    if data.val_ds is None:
        raise UsageError(f"{folder} has no validation part. Pass --validation-split 0.2 or "
                         f"add a val/ folder next to train/.")
    class_names = data.class_names

    weights_text = "random (none)" if weights is None else str(weights)
    _say(f"Building {spec.name} {kwargs or ''} with weights {weights_text}")
    model = build_classifier(spec.name, len(class_names), (image_size, image_size, 3),
                             weights=weights, **kwargs)
    _say(f"Stage 1: frozen backbone, {args.epochs} epoch(s) for the head; then stage 2: "
         f"fine-tuning for {args.fine_tune_epochs} epoch(s)"
         + (" on augmented photos" if args.augment else ""))
    history = train_two_stage(model, data.train_ds, data.val_ds, head_epochs=args.epochs,
                              fine_tune_epochs=args.fine_tune_epochs,
                              num_layers=args.fine_tune_layers, verbose=2,
                              augment=build_augmentation(seed=args.seed) if args.augment
                              else None)
    report = evaluate_classifier(model, data.val_ds, class_names)
    _say()
    _say(str(report))

    from transfer_keras import plots
    figures = {"learning_curves.png": plots.plot_history(history),
               "confusion_matrix.png": plots.plot_confusion_matrix(report)}
    seconds = time.perf_counter() - start
    settings = {"data_dir": str(folder), "backbone": spec.name, "backbone_kwargs": kwargs,
                "weights": None if weights is None else str(weights),
                "image_size": image_size, "epochs": args.epochs,
                "fine_tune_epochs": args.fine_tune_epochs,
                "fine_tune_layers": args.fine_tune_layers, "augment": args.augment,
                "batch_size": args.batch_size,
                "validation_split": validation_split, "seed": args.seed}
    report_json = {
        "command": "train",
        "version": __version__,
        "settings": settings,
        "class_names": class_names,
        "data": data.report.to_dict(),
        "accuracy": report.accuracy,
        "evaluated_on": "validation part",
        "evaluation": report.to_dict(),
        "history": history.to_dict(),
        "trainable_params": trainable_summary(model).total_trainable,
        "seconds": round(seconds, 1),
    }
    report_md = "\n".join([
        f"# transfer-keras train: {folder.name}",
        "",
        f"Validation accuracy **{report.accuracy:.4f}** (macro F1 {report.macro_f1:.4f}) "
        f"on {len(report.y_true):,} images; classes: {', '.join(class_names)}.",
        "",
        "## Data",
        "",
        data.report.table().to_markdown(),
        "",
        "## Training",
        "",
        f"- Backbone `{spec.name}` {kwargs or ''}, weights {weights_text}, "
        f"{image_size}x{image_size} px, batch size {args.batch_size}, seed {args.seed}.",
        f"- Stage 1 (frozen backbone, new head): {args.epochs} epoch(s) at most; stage 2 "
        f"(fine-tuning {args.fine_tune_layers or 'all the'} backbone layers, "
        f"BatchNorm frozen): {args.fine_tune_epochs} epoch(s) at most. "
        f"{len(history.epoch)} epoch(s) run in {sum(history.seconds.values()):.0f} s.",
        "",
        "## Evaluation on the validation part",
        "",
        report.to_markdown(),
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ])
    _save_outputs(out, model, class_names, report_md, report_json, figures)
    _say()
    _say(f"Wrote {MODEL_FILE} (with its class names), report.md, report.json, "
         f"{', '.join(figures)} to {out.resolve()}")
    _say(f"Validation accuracy {report.accuracy:.4f} ({seconds:.0f} s)")
    return EXIT_OK


# --------------------------------------------------------------------------- predict


def _image_files(path):
    """The files to predict: one file, or every non-hidden file under a folder."""
    path = Path(path).expanduser()
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise UsageError(f"Image or folder {str(path)!r} does not exist. Check the path.")
    files = sorted(
        file for file in path.rglob("*")
        if file.is_file() and not any(part.startswith(".")
                                      for part in file.relative_to(path).parts)
    )
    if not files:
        raise UsageError(f"Folder {str(path)!r} holds no files to predict.")
    return path, files


def run_predict(args):
    if args.top_k < 1:
        raise UsageError(f"--top-k must be 1 or more; received {args.top_k}.")
    root, files = _image_files(args.images)
    model = _load_model(args.model)
    size = _input_size(model)
    num_classes = num_classes_of(model)
    class_names, names_from = _class_names_for(model, args.model, num_classes)
    if names_from is None:
        _note(f"no class names in {args.model} (nor a {CLASS_NAMES_FILE} beside it): "
              f"showing class indices 0..{num_classes - 1} instead of names.")

    images, names, skipped = [], [], []
    for file in files:
        try:
            images.append(load_image(file, size))
            names.append(str(file.relative_to(root)))
        except ValueError as error:  # says why: not an image, corrupt, unreadable
            skipped.append((str(file.relative_to(root)), str(error)))
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


def run_evaluate(args):
    folder = _existing_folder(args.data_dir, "Data folder")
    model = _load_model(args.model)
    size = _input_size(model)
    num_classes = num_classes_of(model)
    model_names, names_from = _class_names_for(model, args.model, num_classes)

    data = load_image_folder(folder, size, batch_size=args.batch_size, shuffle=False)
    _say(str(data.report))
    _say()
    images, labels, val_images, val_labels = data.arrays()
    if val_images is not None:
        _say(f"Evaluating on the held-out part ({len(val_labels)} images); the train/ "
             f"part is not scored.")
        images, labels = val_images, val_labels
    if names_from is None:
        if len(data.class_names) != num_classes:
            raise UsageError(
                f"No class names in {args.model} (nor a {CLASS_NAMES_FILE} beside it), and "
                f"the folder has {len(data.class_names)} classes while the model predicts "
                f"{num_classes}: cannot tell which folder is which class. Save the model "
                f"with its class names, in label order (save_model(model, path, "
                f"class_names=[...])), or put them in {CLASS_NAMES_FILE} beside it.")
        _note(f"no class names in {args.model} (nor a {CLASS_NAMES_FILE} beside it): "
              f"assuming the folders, sorted ({', '.join(data.class_names)}), are classes "
              f"0..{num_classes - 1}.")
        model_names = list(data.class_names)
    unknown = [name for name in data.class_names if name not in model_names]
    if unknown:
        raise UsageError(f"Class folder(s) {', '.join(unknown)} in {folder} are not classes "
                         f"of the model, which knows: {', '.join(model_names)}. Rename or "
                         f"remove those folders.")
    # Folder label i is the folder class_names[i]; the model's label is its position
    # in model_names.
    to_model_label = np.array([model_names.index(name) for name in data.class_names])
    report = evaluate_classifier(model, (images, to_model_label[labels]), model_names,
                                 batch_size=args.batch_size)
    print(report)
    if args.out:
        out = _output_folder(args.out)
        from transfer_keras import plots
        _save_figure(plots.plot_confusion_matrix(report), out / "confusion_matrix.png")
        write_text_atomically(out / "report.md", "\n".join([
            f"# transfer-keras evaluate: {Path(args.model).name} on {folder.name}", "",
            data.report.table().to_markdown(), "", report.to_markdown(), "",
            "![confusion matrix](confusion_matrix.png)", ""]))
        _write_json(out / "report.json", {
            "command": "evaluate", "version": __version__, "model": str(args.model),
            "data_dir": str(folder), "class_names": model_names,
            "class_names_from": names_from, "accuracy": report.accuracy,
            "data": data.report.to_dict(), "evaluation": report.to_dict()})
        _say(f"Wrote report.md, report.json, confusion_matrix.png to {out}")
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
    build_backbone(spec.name, (size, size, 3), weights="imagenet", **kwargs)
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
            failures.append((item, str(error)))
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


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.2, got {text!r}") \
            from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.2), got {value}")
    return value


def build_parser():
    """Returns the `argparse` parser of the `transfer-keras` command."""
    parser = argparse.ArgumentParser(
        prog="transfer-keras",
        description="Transfer learning with Keras 3: train, evaluate and use image "
                    "classifiers built on pretrained backbones.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="the whole story offline: real photos, ImageNet weights, every baseline",
        description="Transfers genuine ImageNet MobileNet (alpha 0.25) features to the "
                    "embedded ants/bees photos and compares, on test photos no choice "
                    "looked at, the majority class, logistic regression on pixels, a small "
                    "CNN from scratch, a linear probe, the frozen backbone and the "
                    "fine-tuned model (mean and std over seeds), plus a data-efficiency "
                    "curve. Offline, about three minutes on a 2-core CPU.")
    demo.add_argument("--out", default="transfer_keras_demo",
                      help="output folder (default: ./transfer_keras_demo)")
    demo.add_argument("--seeds", type=int, nargs="+", metavar="SEED", default=[0, 1, 2],
                      help="one run per seed; the same seeds give the same numbers "
                           "(default: 0 1 2)")
    demo.add_argument("--curve", type=_positive_int, nargs="*", metavar="N",
                      default=list(SHOWCASE_CURVE),
                      help="smaller training sets of the data-efficiency curve, in labels "
                           "per class (default: 10)")
    demo.add_argument("--image-size", type=_positive_int, default=SHOWCASE_IMAGE_SIZE,
                      help=f"photo side in pixels (default: {SHOWCASE_IMAGE_SIZE})")
    demo.set_defaults(run=run_demo)

    train = commands.add_parser(
        "train", help="two-stage transfer learning on your image folder",
        description="Trains a classifier on DATA_DIR (one sub-folder per class, or train/ "
                    "and val/ folders): stage 1 trains a new head on the frozen backbone, "
                    "stage 2 fine-tunes the top of the backbone. Writes model.keras (with "
                    "its class names), report.md, report.json and figures to --out.")
    train.add_argument("data_dir", metavar="DATA_DIR", help="the image folder")
    train.add_argument("--backbone", required=True,
                       help="backbone name (see `transfer-keras backbones`)")
    train.add_argument("--alpha", type=float, default=None,
                       help="width multiplier of the MobileNet family, e.g. 0.25 "
                            "(default: the backbone's, 1.0)")
    train.add_argument("--image-size", type=_positive_int, default=None,
                       help="image side in pixels (default: the backbone's ImageNet size)")
    train.add_argument("--weights", default="imagenet",
                       help="'imagenet' (Keras cache or download), 'none' (random) or a "
                            "weights file path (default: imagenet)")
    train.add_argument("--epochs", type=int, default=10,
                       help="stage-1 (head) epochs at most (default: 10)")
    train.add_argument("--fine-tune-epochs", type=int, default=5,
                       help="stage-2 epochs at most, 0 to skip fine-tuning (default: 5)")
    train.add_argument("--fine-tune-layers", type=_positive_int, default=None,
                       help="unfreeze the last N backbone layers (default: the whole backbone; BatchNorm stays frozen)")
    train.add_argument("--augment", action="store_true",
                       help="fine-tune on randomly flipped, rotated, zoomed and "
                            "contrast-changed photos (stage 1 stays on cached features); "
                            "recommended for a few hundred photos")
    train.add_argument("--batch-size", type=_positive_int, default=32,
                       help="images per batch (default: 32)")
    train.add_argument("--validation-split", type=_fraction, default=None,
                       help="fraction of each class held out for validation (default: "
                            "0.2, or the val/ folder when there is one)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--out", required=True, help="output folder")
    train.set_defaults(run=run_train)

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
                    "classes; with train/ and val/ folders, val/ is scored).")
    evaluate.add_argument("model", metavar="MODEL", help="a model.keras file")
    evaluate.add_argument("data_dir", metavar="DATA_DIR", help="the labelled image folder")
    evaluate.add_argument("--batch-size", type=_positive_int, default=32,
                          help="images per batch (default: 32)")
    evaluate.add_argument("--out", default=None,
                          help="also write report.md, report.json and confusion_matrix.png "
                               "to this folder")
    evaluate.set_defaults(run=run_evaluate)

    backbones = commands.add_parser(
        "backbones", help="list the supported backbones",
        description="The supported keras.applications backbones: sizes, feature width, "
                    "extra arguments, and whether ImageNet weights are in the Keras cache.")
    backbones.set_defaults(run=run_backbones)

    prefetch = commands.add_parser(
        "prefetch", help="download weights and data into the Keras cache (needs internet)",
        description="On a machine with internet: downloads ImageNet weights and datasets "
                    "into the Keras cache, then tells you how to copy it to offline "
                    "machines.")
    prefetch.add_argument("--backbones", nargs="+", metavar="NAME", default=[],
                          help="backbone names (see `transfer-keras backbones`)")
    prefetch.add_argument("--image-size", type=_positive_int, default=None,
                          help="image side: MobileNet weights differ per size (default: "
                               "each backbone's ImageNet size)")
    prefetch.add_argument("--alpha", type=float, default=None,
                          help="width multiplier of the MobileNet family, e.g. 0.25")
    prefetch.add_argument("--datasets", nargs="+", choices=["fashion_mnist"], default=[],
                          help="datasets to download")
    prefetch.set_defaults(run=run_prefetch)
    return parser


def _quiet():
    """No duplicate or internal chatter on the terminal: the reports say what matters."""
    warnings.filterwarnings("ignore", category=DataWarning)  # listed in the data report
    # Keras notes that datasets are not reshuffled by fit(shuffle=True); they shuffle
    # themselves (`prepare(..., shuffle=True)`).
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    tf.get_logger().setLevel("ERROR")  # e.g. tf.function retracing notes


def main(argv=None):
    """Runs the `transfer-keras` command; returns the exit code.

    Args:
        argv: the arguments, without the program name. Defaults to `None`
            (`sys.argv[1:]`).

    Returns:
        0 on success, 1 when something could not be done, 2 for a user mistake.
    """
    args = build_parser().parse_args(argv)  # exits with 2 on a usage error
    _quiet()
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
