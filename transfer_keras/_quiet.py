"""Import TensorFlow without its C++ start-up chatter, and without starting its devices.

TensorFlow prints informational lines straight to the process's stderr, before
`TF_CPP_MIN_LOG_LEVEL` can act: while it is imported ("All log messages before
absl::InitializeLog()", "Could not find cuda drivers", CPU instruction sets)
and when it first looks for GPUs ("failed call to cuInit" on machines without
one). Jupyter shows those lines under the cell of every notebook.

`import_tensorflow_quietly` does both steps with stderr captured, then writes
back every line that is not known start-up noise, so real errors still show.
It lists the *physical* devices only: TensorFlow's runtime (its logical
devices) is not started, so a user can still call
`tf.config.threading.set_intra_op_parallelism_threads`,
`tf.config.experimental.set_memory_growth` or `tf.config.set_visible_devices`
after `import transfer_keras`. (Listing the physical devices does initialise
CUDA, so the `CUDA_VISIBLE_DEVICES` variable must be set before the import;
`tf.config.set_visible_devices` works at any time before the first op.)
"""

import contextlib
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


@contextlib.contextmanager
def _stderr_without_noise():
    """Captures the process's stderr (C++ included) and writes back all but `NOISE`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if line.strip() and not NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def import_tensorflow_quietly():
    """Imports TensorFlow and finds its physical devices, with start-up noise filtered.

    Leaves TensorFlow's runtime unstarted (no logical devices), so threading,
    GPU memory growth and visible devices can still be configured afterwards.

    Returns:
        The `tensorflow` module.

    Example (in a fresh Python, before any model is built, the threading
    setting is still allowed; `tests/test_import.py` checks it):
    >>> tf = import_tensorflow_quietly()
    >>> tf.__name__
    'tensorflow'
    """
    with _stderr_without_noise():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the cuInit attempt, and its message, happen here
    tf.get_logger().setLevel("WARNING")  # Jupyter starts it at INFO ("Assets written")
    return tf
