"""The `transfer-keras` parser and the quick checks of its arguments: no TensorFlow here.

`--help` and the argument mistakes answer before TensorFlow is imported (it
takes seconds), so this module imports no module that imports TensorFlow or
Keras. The few library constants it needs are copied below;
`tests/test_cli_parser.py` checks that they equal the library's.
"""

import argparse
from pathlib import Path

from transfer_keras import __version__
from transfer_keras._checks import check_seed
from transfer_keras.errors import UsageError

# Copies of library constants (tests/test_cli_parser.py compares them).
BACKBONE_NAMES = ("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large",
                  "efficientnetb0", "efficientnetv2b0", "resnet50v2", "densenet121",
                  "xception", "convnexttiny", "efficientnet_lite0")  # backbones.BACKBONES
ALPHA_BACKBONES = ("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large")
LARGEST_IMAGENET_SIZE = 299  # the largest `default_size` of backbones.BACKBONES
DEFAULT_HEAD_EPOCHS = 100  # stages.DEFAULT_HEAD_EPOCHS
DEFAULT_FINE_TUNE_EPOCHS = 10  # stages.DEFAULT_FINE_TUNE_EPOCHS
DEFAULT_FINE_TUNE_EXTENT = "the whole backbone"  # reports.fine_tune_extent(None)
SHOWCASE_BACKBONE = "efficientnet_lite0"  # showcase.SHOWCASE_BACKBONE
SHOWCASE_IMAGE_SIZE = 224  # showcase.SHOWCASE_IMAGE_SIZE
SHOWCASE_CURVE = (10,)  # showcase.SHOWCASE_CURVE

DEFAULT_BACKBONE = SHOWCASE_BACKBONE  # strong, and its ImageNet weights work offline
MAX_IMAGE_SIZE = 1024  # pixels per side; larger images exhaust a laptop's memory
MAX_BATCH_SIZE = 4096
COMMANDS = ("demo", "train", "predict", "evaluate", "backbones", "prefetch")


# --------------------------------------------------------------------------- argument types


def _key(name):
    return name.lower().replace("_", "").replace("-", "")


def backbone_name(text):
    """A backbone name as the table spells it (case and `_`/`-` ignored), or a usage error."""
    for name in BACKBONE_NAMES:
        if _key(name) == _key(text):
            return name
    raise argparse.ArgumentTypeError(
        f"Unknown backbone {text!r}. Choose one of: {', '.join(BACKBONE_NAMES)}.")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


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
    except ValueError:  # not a number, or out of range
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 2**32 - 1, got {text!r}") from None


def _image_side(text):
    value = _positive_int(text)
    if value > MAX_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_IMAGE_SIZE} pixels, got {value}: images that large "
            f"exhaust the memory (the backbones' ImageNet sizes are at most "
            f"{LARGEST_IMAGENET_SIZE})")
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


# --------------------------------------------------------------------------- quick checks


def backbone_kwargs(name, alpha):
    """The extra backbone arguments of `--alpha`: `{}` or `{"alpha": alpha}`."""
    if alpha is None:
        return {}
    if name not in ALPHA_BACKBONES:
        raise UsageError(f"--alpha applies to the MobileNet family "
                         f"({', '.join(ALPHA_BACKBONES)}); backbone {name!r} has no width "
                         f"multiplier. Drop --alpha.")
    return {"alpha": alpha}


def weights_argument(weights):
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


def _check_train(args):
    if args.epochs < 1:
        raise UsageError(f"--epochs must be 1 or more; received {args.epochs}. Stage 1 "
                         f"trains the new head, which fine-tuning needs (to skip "
                         f"fine-tuning, pass --fine-tune-epochs 0).")
    if args.fine_tune_epochs < 0:
        raise UsageError(f"--fine-tune-epochs must be 0 (no fine-tuning) or more; received "
                         f"{args.fine_tune_epochs}.")
    backbone_kwargs(args.backbone, args.alpha)
    if weights_argument(args.weights) is None and args.fine_tune_layers is not None:
        raise UsageError("--fine-tune-layers does not apply to --weights none: training "
                         "from scratch trains every layer. Drop --fine-tune-layers, or "
                         "start from pretrained weights (--weights imagenet).")


def check_arguments(args):
    """The checks that need no TensorFlow, run before it is imported (raises UsageError).

    The checks that need the library (the image size a backbone accepts, a
    weights file that fits) run in the commands.
    """
    if args.command == "train":
        _check_train(args)
    elif args.command == "predict" and args.top_k < 1:
        raise UsageError(f"--top-k must be 1 or more; received {args.top_k}.")
    elif args.command == "prefetch":
        if not args.backbones and not args.datasets:
            raise UsageError("Nothing to prefetch: give --backbones NAME [NAME ...] and/or "
                             "--datasets fashion_mnist.")
        for name in args.backbones:
            backbone_kwargs(name, args.alpha)


# --------------------------------------------------------------------------- the parser


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


def _add_train_model(train):
    """The arguments of `train` that choose the model."""
    train.add_argument("--backbone", type=backbone_name, default=DEFAULT_BACKBONE,
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


def _add_train_schedule(train):
    """The arguments of `train` that choose how it trains."""
    train.add_argument("--epochs", type=int, default=DEFAULT_HEAD_EPOCHS,
                       help=f"stage-1 (head) epochs at most, 1 or more; early stopping "
                            f"ends it sooner (default: {DEFAULT_HEAD_EPOCHS})")
    train.add_argument("--fine-tune-epochs", type=int, default=DEFAULT_FINE_TUNE_EPOCHS,
                       help=f"stage-2 epochs at most, 0 to skip fine-tuning (default: "
                            f"{DEFAULT_FINE_TUNE_EPOCHS})")
    train.add_argument("--fine-tune-layers", type=_positive_int, default=None,
                       help=f"unfreeze the last N backbone layers (default: "
                            f"{DEFAULT_FINE_TUNE_EXTENT}; BatchNorm stays frozen)")
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


def _add_train(commands):
    train = commands.add_parser(
        "train", help="two-stage transfer learning on your image folder",
        description="Trains a classifier on DATA_DIR (one sub-folder per class, or train/ "
                    "and val/ folders, maybe test/): stage 1 trains a new head on the "
                    f"frozen backbone, stage 2 fine-tunes {DEFAULT_FINE_TUNE_EXTENT} "
                    "(--fine-tune-layers N: the top N layers; BatchNorm stays frozen). "
                    "Writes model.keras (with its class names), report.md, report.json and "
                    "figures to --out.")
    train.add_argument("data_dir", metavar="DATA_DIR", help="the image folder")
    _add_train_model(train)
    _add_train_schedule(train)
    train.add_argument("--out", required=True,
                       help="output folder, new or empty, outside DATA_DIR (written "
                            "when the run succeeds)")
    _add_overwrite(train)


def _add_predict_and_evaluate(commands):
    predict = commands.add_parser(
        "predict", help="classify images with a saved model",
        description="Prints the top-k classes of each image. Class names come from "
                    "the model file (train and demo store them there).")
    predict.add_argument("model", metavar="MODEL", help="a model.keras file")
    predict.add_argument("images", metavar="IMAGE_OR_DIR",
                         help="an image file, or a folder (read recursively)")
    predict.add_argument("--top-k", type=int, default=3,
                         help="classes to show per image (default: 3)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")

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


def _add_backbones_and_prefetch(commands):
    commands.add_parser(
        "backbones", help="list the supported backbones",
        description="The supported backbones (keras.applications and the project's own "
                    "EfficientNet-Lite0): sizes, feature width, extra arguments, and "
                    "whether ImageNet weights are in the Keras cache.")
    prefetch = commands.add_parser(
        "prefetch", help="download weights and data into the Keras cache (needs internet)",
        description="On a machine with internet: downloads ImageNet weights and datasets "
                    "into the Keras cache, then tells you how to copy it to offline "
                    "machines.")
    prefetch.add_argument("--backbones", type=backbone_name, nargs="+", metavar="NAME",
                          default=[], help="backbone names (see `transfer-keras backbones`)")
    prefetch.add_argument("--image-size", type=_image_side, default=None,
                          help="image side: MobileNet weights differ per size (default: "
                               "each backbone's ImageNet size)")
    prefetch.add_argument("--alpha", type=float, default=None,
                          help="width multiplier of the MobileNet family, e.g. 0.25")
    prefetch.add_argument("--datasets", nargs="+", choices=["fashion_mnist"], default=[],
                          help="datasets to download")


def build_parser():
    """Returns the `argparse` parser of the `transfer-keras` command.

    Example:
    >>> build_parser().parse_args(["predict", "model.keras", "photo.jpg"]).command
    'predict'
    """
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
