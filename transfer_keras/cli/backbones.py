"""`transfer-keras backbones`: the table of backbones, and which weights are cached."""

from transfer_keras.backbones import keras_cache_dir, list_backbones
from transfer_keras.cli.output import EXIT_OK


def run(args):
    """Prints the supported backbones and where Keras caches their weights."""
    print(list_backbones())
    print(f"\nWeights cache: {keras_cache_dir()} (Keras's cache; set KERAS_HOME to use "
          f"another folder, or fill it with `transfer-keras prefetch`).")
    return EXIT_OK
