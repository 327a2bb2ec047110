"""Start TensorFlow without its C++ start-up chatter.

TensorFlow prints informational lines (oneDNN notes, "could not find cuda
drivers", CPU instruction sets) straight to the process's stderr while it
loads and first touches its devices, before `TF_CPP_MIN_LOG_LEVEL` can act.
Jupyter shows those lines under the cell of every notebook. This module does
both steps with stderr captured, then writes back every line that is not
known start-up noise, so real errors still show.
"""

import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|I\d{4} .*"  # absl INFO lines
    r"|E\d{4} .*(cuInit|cuda_platform|cuda_diagnostics|CUDA).*"
    r"|To enable the following instructions:.*"
    r"|This TensorFlow binary is optimized.*)"
)


def start_tensorflow_quietly():
    """Imports TensorFlow and initialises its devices with start-up noise filtered."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded interpreters)
        import tensorflow as tf

        return tf
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_logical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode(errors="replace").splitlines()
                if line.strip() and not NOISE.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    tf.get_logger().setLevel("WARNING")  # Jupyter starts it at INFO ("Assets written")
    return tf
