"""`import transfer_keras` has no side effects a user would trip over.

It imports no TensorFlow at all (names are imported on first use), so it cannot
touch stderr or start TensorFlow's devices. `tk.import_tensorflow_quietly()`
then imports TensorFlow with its C++ start-up chatter kept off stderr, and
still leaves the devices unstarted (threading or GPU settings made afterwards
would raise RuntimeError otherwise). Neither registers IPython display
formatters. A fresh Python process is the only place to see this: here
TensorFlow is already running.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter, inside a real (terminal-less) IPython shell.
FRESH_PROCESS = textwrap.dedent("""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    import sys
    import transfer_keras as tk
    print("tensorflow at import:", "tensorflow" in sys.modules, "keras" in sys.modules)
    tk.import_tensorflow_quietly()
    from transfer_keras import plots
    import numpy as np
    import tensorflow as tf
    from matplotlib.figure import Figure

    # 1. TensorFlow's devices are not started: these raise RuntimeError once they are.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    print("first op:", int(tf.constant(1) + 1),
          "threads:", tf.config.threading.get_intra_op_parallelism_threads())

    # 2. No display formatter for Figures until a plot function returns one.
    png = shell.display_formatter.formatters["image/png"]
    print("png at import:", Figure in png.type_printers)
    figure = plots.plot_confusion_matrix(np.eye(2))
    print("png after a plot:", "image/png" in shell.display_formatter.format(figure)[0])
""")

NOISE_MARKERS = ["absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard",
                 "This TensorFlow binary is optimized"]


def test_import_leaves_devices_and_ipython_alone_and_stderr_quiet(tmp_path):
    pytest.importorskip("IPython")
    env = {**os.environ, "PYTHONPATH": str(REPO), "IPYTHONDIR": str(tmp_path),
           "MPLBACKEND": "Agg"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the library's own default applies
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tensorflow at import: False False" in result.stdout
    assert "first op: 2 threads: 1" in result.stdout
    assert "png at import: False" in result.stdout
    assert "png after a plot: True" in result.stdout
    noise = [line for line in result.stderr.splitlines()
             if any(marker in line for marker in NOISE_MARKERS)]
    assert noise == [], "TensorFlow start-up chatter reached stderr"
