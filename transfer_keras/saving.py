"""Saving and loading self-contained `.keras` files that carry their class names.

`save_model` writes Keras's own format plus one small member, `transfer_keras.json`
(class names, backbone, image size, library version), atomically; Keras ignores
that member, so the file loads with plain `keras.saving.load_model`. `load_model`
and `load_class_names` give the class names back.
"""

import contextlib
import json
import zipfile
from pathlib import Path

import keras

from transfer_keras import _keras_compat
from transfer_keras._files import atomic_path
from transfer_keras.layout import num_classes_of
from transfer_keras.models import MODEL_METADATA_FILE, backbone_name


def _check_class_names(class_names, num_classes):
    """Returns `class_names` as a list of str, one per class, or raises ValueError."""
    if isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise ValueError(
            f"`class_names` must be a list of {num_classes} class names (str), in "
            f"label order; received {class_names!r}. Example: "
            f"{[f'class_{index}' for index in range(num_classes)]}."
        )
    not_text = [name for name in class_names if not isinstance(name, str)]
    if not_text:
        raise ValueError(
            f"`class_names` must hold str only; received {not_text[0]!r} of type "
            f"{type(not_text[0]).__name__} in {list(class_names)!r}. Convert them, "
            f"e.g. [str(name) for name in class_names]."
        )
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(class_names)} name(s) but the model predicts "
            f"{num_classes} classes; received {list(class_names)!r}. Give one name per "
            f"class, in label order."
        )
    repeated = sorted({name for name in class_names if class_names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"`class_names` must be different from each other; received "
            f"{list(class_names)!r}, where {', '.join(map(repr, repeated))} repeat(s)."
        )
    return [str(name) for name in class_names]


def _metadata(model, class_names):
    """The facts `save_model` stores in the `.keras` file beside Keras's own."""
    from transfer_keras import __version__  # (late: the package imports this module)

    try:
        backbone = backbone_name(model)
    except ValueError:
        backbone = None  # any Keras model can be saved
    shape = model.input_shape
    image_size = None  # (height, width) of a model of images of one size
    if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3]:
        image_size = [int(side) for side in shape[1:3]]
    return {"class_names": class_names, "backbone": backbone, "image_size": image_size,
            "transfer_keras_version": __version__}


def save_model(model, path, *, class_names=None):
    """Saves a model and its class names as one `.keras` file, atomically.

    The file is Keras's own format plus one small member, `transfer_keras.json`,
    holding the class names, the backbone's name, the image size and this
    library's version. Keras ignores that member, so the file loads with plain
    `keras.saving.load_model` (safe mode, without this library);
    `load_class_names` gives the class names back.

    The model is written to a temporary file in the same folder and renamed
    into place, so an interrupted save leaves the previous file (or none).

    Args:
        model: a Keras model.
        path: destination ending in `.keras`.
        class_names: the class names in label order, one per class (2 for a
            single sigmoid unit). Defaults to `None` (none stored).

    Returns:
        The `Path` written.

    Raises:
        ValueError: `path` does not end in `.keras`; `class_names` is not a list
            of distinct str with one name per class.

    Example:
    >>> save_model(model, "ants_bees.keras", class_names=["ants", "bees"])
    PosixPath('ants_bees.keras')
    """
    path = Path(path).expanduser()
    if path.suffix != ".keras":
        raise ValueError(
            f"`path` must end in '.keras' (Keras's safe, pickle-free format); "
            f"received {str(path)!r}. Example: 'model.keras'."
        )
    if class_names is not None:
        class_names = _check_class_names(class_names, num_classes_of(model))
    metadata = _metadata(model, class_names)
    _build_optimizer(model)
    with atomic_path(path) as temporary, _plain_keras_compile_config(model):
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(MODEL_METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return path


def plain_keras_optimizer(optimizer):
    """A built-in Keras optimizer with `optimizer`'s settings, or None if it is one.

    This library's per-layer rates (`LayerRatesAdam`, ...) become their Keras
    class, and its schedules (`WarmupCosine`, `OneCycle`) the rate they give
    now: what a file needs to load where `transfer_keras` is not installed.
    The optimizer's variables (Adam's moments, ...) are the same either way.
    """
    config = optimizer.get_config()
    schedule = config.get("learning_rate")
    own_schedule = isinstance(schedule, dict) and not str(schedule.get("module", "")
                                                          ).startswith("keras")
    base = getattr(type(optimizer), "base_optimizer", None)
    if base is None and not own_schedule:
        return None
    if own_schedule:
        config["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    config.pop("lr_factors", None)
    return (base or type(optimizer)).from_config(config)


@contextlib.contextmanager
def _plain_keras_compile_config(model):
    """While saving, the file's compile settings name only Keras's own optimizer
    classes (see `plain_keras_optimizer`), so plain Keras can load it."""
    compile_config = getattr(model, "_compile_config", None)  # what Keras saves
    optimizer = getattr(compile_config, "config", {}).get("optimizer")
    plain = (plain_keras_optimizer(optimizer)
             if isinstance(optimizer, keras.optimizers.Optimizer) else None)
    if plain is None:
        yield
        return
    compile_config.config["optimizer"] = plain
    try:
        yield
    finally:
        compile_config.config["optimizer"] = optimizer


def _build_optimizer(model):
    """Builds a compiled model's optimizer if no `fit` has built it yet (zero slots).

    Keras saves an unbuilt optimizer without the variables that loading
    builds, then warns "Skipping variable loading for optimizer". That is the
    case of every stage-1 checkpoint: the full model is saved while only its
    head trains, on its own optimizer.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        with _keras_compat.distribute_strategy(model).scope():
            optimizer.build(model.trainable_variables)


def _check_model_file(path):
    """Returns `path` as a `Path` of an existing zip file, or raises ValueError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} does not exist; give a .keras file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"`path` {str(path)!r} is not a Keras model: a .keras file is a zip "
            f"archive written by model.save('name.keras') or save_model()."
        )
    return path


def _read_metadata(path):
    """The `transfer_keras.json` member of a `.keras` file as a dict ({} if absent)."""
    with zipfile.ZipFile(path) as archive:
        if MODEL_METADATA_FILE not in archive.namelist():
            return {}  # saved by plain Keras or by an earlier version
        text = archive.read(MODEL_METADATA_FILE)
    try:
        metadata = json.loads(text)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise ValueError(
            f"`path` {str(path)!r} holds a damaged {MODEL_METADATA_FILE} (not a JSON "
            f"object). Save the model again with save_model()."
        )
    return metadata


def load_class_names(path):
    """Returns the class names stored in a `.keras` file, without loading the model.

    Args:
        path: a `.keras` file.

    Returns:
        The class names (a list of str) in label order, or `None` when the file
        holds none (saved without `class_names`, by plain Keras or by an earlier
        version of this library).

    Raises:
        ValueError: the file is missing, is not a Keras model, or its
            `transfer_keras.json` member is damaged.

    Example:
    >>> load_class_names("ants_bees.keras")
    ['ants', 'bees']
    """
    names = _read_metadata(_check_model_file(path)).get("class_names")
    return None if names is None else [str(name) for name in names]


def load_model(path, *, compile=True):
    """Loads a `.keras` model in Keras's safe mode (no pickle, no arbitrary code).

    Models from `build_classifier` take raw pixels in [0, 255], so predicting
    needs no extra preprocessing code. The class names stored by `save_model`
    are checked against the model; `load_class_names(path)` reads them.

    Args:
        path: a `.keras` file written by `save_model` or `model.save`.
        compile: restore the optimizer and loss too. Defaults to `True`.

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: the file is missing or is not a Keras model, or its class
            names do not fit the model.

    Example:
    >>> model = load_model("ants_bees.keras")
    >>> load_class_names("ants_bees.keras")
    ['ants', 'bees']
    """
    path = _check_model_file(path)
    class_names = load_class_names(path)
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:
        raise ValueError(
            f"`path` {str(path)!r} could not be loaded as a Keras model: {error}"
        ) from None
    if class_names is not None:
        try:
            class_names = _check_class_names(class_names, num_classes_of(model))
        except ValueError as error:
            raise ValueError(f"`path` {str(path)!r} holds class names that do not fit "
                             f"its model: {error}") from None
    return model
