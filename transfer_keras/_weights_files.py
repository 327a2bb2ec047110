"""Weights files seen from the outside: what a file says about itself, and which
ImageNet file can stand in for another (helpers of `backbones.py`)."""

import json
from pathlib import Path

from transfer_keras import _keras_compat


def saved_with(weights):
    """The clause "; name.json beside it says it was saved with ..." from the
    record that `pretrain_source` writes beside its weights (`name.json` for
    `name.weights.h5`), else ''."""
    if not str(weights).endswith(".weights.h5"):
        return ""
    record = Path(str(weights)[:-len(".weights.h5")] + ".json")
    try:
        info = json.loads(record.read_text())
        return f"; {record.name} beside it says it was saved with {info['backbone']!r}, " \
               f"{info['backbone_kwargs']}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def first_line(error, limit=300):
    """The gist of an error, at most `limit` characters: Keras's shape errors go on
    to print every value of the tensor (kilobytes), after "Target variable"."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    text = text.split(" Target variable:")[0] or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


# The input sizes Keras publishes ImageNet files for (MobileNet, MobileNetV2).
IMAGENET_FILE_SIZES = (224, 192, 160, 128, 96)


def imagenet_file_for_another_size(file_name):
    """An ImageNet file of the same backbone and width for another input size.

    MobileNet and MobileNetV2 have one file per input size (`..._128_...`,
    `..._224_...`), but their convolution weights do not depend on the size, so
    any of them fits. Looks in the Keras cache, then in the example kit; returns
    the exact file first when the kit has it. `None` when nothing fits.
    """
    from transfer_keras.kit import kit_folder  # (the kit imports the data module)

    size = next((s for s in IMAGENET_FILE_SIZES if f"_{s}_" in file_name), None)
    names = [file_name] + [file_name.replace(f"_{size}_", f"_{other}_")
                           for other in IMAGENET_FILE_SIZES if size and other != size]
    for name in names:
        for folder in (_keras_compat.keras_home() / "models", kit_folder() / "imagenet"):
            if (folder / name).is_file():
                return folder / name
    return None
