"""The `transfer-keras` command: demo, train, predict, evaluate, backbones, prefetch.

    transfer-keras demo                      # the whole story, offline, in about six minutes
    transfer-keras train photos/ --out ants_bees   # EfficientNet-Lite0 (tiny: --backbone mobilenet --alpha 0.25)
    transfer-keras predict ants_bees/model.keras photo.jpg
    transfer-keras evaluate ants_bees/model.keras more_photos/
    transfer-keras backbones                 # the table, and which weights are cached
    transfer-keras prefetch --backbones mobilenet --datasets fashion_mnist

Every command that trains writes one output folder: `model.keras` (takes raw
pixels and carries its class names, which `predict` and `evaluate` read back;
it loads with plain Keras too), `report.md`, `report.json` and the figures.

This package only parses arguments (`parser.py`, which imports no TensorFlow:
`--help` and argument mistakes answer at once), calls the library (one module
per command; the reports come from `reports.py`) and turns errors into exit
codes (`output.py`; families in `errors.py`):

    0    success
    1    the environment: missing weights, data or kit (`ResourceUnavailableError`),
         or any other `OSError` (permission denied, disk full); e.g. a failed download
    2    a mistake the user can fix: bad arguments (`ValueError`, `TypeError`,
         `UsageError`), also from argparse
    130  interrupted (Ctrl-C, SIGINT)
    143  terminated (SIGTERM, e.g. `kill PID`): handled exactly like Ctrl-C

Codes 1 and 2 print one `error: ...` line (or paragraph) saying how to fix it,
never a traceback (an error about one argument starts with its flag, e.g.
`error: --image-size: ...`); anything else is a bug and keeps its traceback. `train`,
`demo` and `evaluate` check every input (and that `--out` can be written)
before any work. `--out` must be new or empty, or given with `--overwrite`
(then the folder's whole content is replaced; a folder holding files that
transfer-keras does not write is refused). A run is built in a hidden folder
beside `--out` (`.NAME.partial-XXXX`) and renamed into place when it succeeds:
an error, Ctrl-C or SIGTERM leaves `--out` exactly as it was, never a mix of
two runs. `evaluate --out` follows the same rules, and refuses to replace the
folder that holds the model it evaluates.
"""

import importlib

from transfer_keras.cli.output import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    error,
    run_command,
)
from transfer_keras.cli.parser import build_parser, check_arguments
from transfer_keras.errors import UsageError

__all__ = ["UsageError", "build_parser", "main"]  # UsageError: from errors.py


def load_command(command):
    """Imports TensorFlow (its start-up noise filtered) and the module of `command`;
    returns its `run` function."""
    from transfer_keras._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    module = importlib.import_module(f"transfer_keras.cli.{command}")
    from transfer_keras.cli.quiet import quiet_library

    quiet_library()
    return module.run


def main(argv=None):
    """Runs the `transfer-keras` command; returns the exit code.

    Parses and checks the arguments before TensorFlow is imported, so `--help`
    and argument mistakes answer at once.

    Args:
        argv: the arguments, without the program name. Defaults to `None`
            (`sys.argv[1:]`).

    Returns:
        0 on success, 1 when the environment stops it (missing weights or data,
        an `OSError`), 2 for a user mistake, 130 when interrupted (Ctrl-C, also
        while TensorFlow starts), 143 when terminated (SIGTERM). Other
        exceptions are bugs: they propagate with their traceback.

    Example:
    >>> main(["backbones"])  # doctest: +SKIP
    0
    """
    args = build_parser().parse_args(argv)  # exits with 2 on a usage error
    try:
        check_arguments(args)
        run = load_command(args.command)
    except UsageError as exception:
        error(str(exception))
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while TensorFlow imports: no traceback
        error("interrupted (Ctrl-C)")
        return EXIT_INTERRUPTED
    return run_command(run, args)
