"""A model file given as MODEL to `predict` and `evaluate`: loaded, its input size, its names."""

from pathlib import Path

from transfer_keras.errors import UsageError
from transfer_keras.saving import load_class_names, load_model


def class_names_for(model_path, num_classes):
    """Returns `(class names, where they came from)` for a model loaded from a file.

    Takes the names stored in the model file (`load_class_names`; `load_model`
    checked them against the model); else the class indices "0", "1", ... with
    `None` as their source.
    """
    names = load_class_names(model_path)
    if names is not None:
        return names, str(model_path)
    return [str(index) for index in range(num_classes)], None


def input_size(model):
    """`(height, width)` of the RGB images the model takes, or a UsageError."""
    shape = model.input_shape
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
        raise UsageError(f"The model takes inputs of shape {shape}; predict and evaluate "
                         f"need a model of RGB images of a fixed size, as `train` writes.")
    return int(shape[1]), int(shape[2])


def load_model_file(path):
    """The model in the file MODEL, or a UsageError that says what MODEL should be."""
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
    except ValueError as error:  # not a Keras model; the library's argument is MODEL
        raise UsageError(f"MODEL: {error}") from None
