"""No duplicate or internal chatter on the terminal: the reports say what matters."""

import warnings

import tensorflow as tf

from transfer_keras.data import DataWarning


def quiet_library():
    """Hides the library's data warnings (the data report lists them) and TF's notes."""
    warnings.filterwarnings("ignore", category=DataWarning)  # listed in the data report
    # Keras notes that datasets are not reshuffled by fit(shuffle=True); they shuffle
    # themselves (`prepare(..., shuffle=True)`).
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    tf.get_logger().setLevel("ERROR")  # e.g. tf.function retracing notes
