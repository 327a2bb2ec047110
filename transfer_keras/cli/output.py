"""What every command shares: printing, the exit codes, and errors as one `error:` line.

Library errors name their argument in `.argument` (`errors.ArgumentError`); the
command line names the flag the user typed instead (`FLAGS`). No TensorFlow here.
"""

import sys

from transfer_keras._files import Terminated, sigterm_as_interrupt
from transfer_keras.errors import ResourceUnavailableError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

# The library's argument names -> the flags that set them.
FLAGS = {
    "alpha": "--alpha",
    "backbone": "--backbone",
    "batch_size": "--batch-size",
    "epochs": "--epochs",
    "fine_tune_epochs": "--fine-tune-epochs",
    "head_epochs": "--epochs",
    "image_size": "--image-size",
    "input_shape": "--image-size",
    "labels_per_class": "--curve",
    "num_layers": "--fine-tune-layers",
    "seed": "--seed",
    "seeds": "--seeds",
    "validation_split": "--validation-split",
    "weights": "--weights",
}


def say(message=""):
    print(message, flush=True)


def note(message):
    print(f"note: {message}", file=sys.stderr, flush=True)


def error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)


def error_message(exception):
    """The `error:` line of a library error: its flag first when it names its argument.

    Example:
    >>> from transfer_keras.errors import ArgumentValueError
    >>> error_message(ArgumentValueError("`alpha` must be above 0.", argument="alpha"))
    '--alpha: `alpha` must be above 0.'
    """
    flag = FLAGS.get(getattr(exception, "argument", None))
    return f"{flag}: {exception}" if flag else str(exception)


def os_error_message(exception):
    """One line for an `OSError`: what went wrong and the path, no traceback."""
    if not exception.filename:
        return str(exception)
    paths = " -> ".join(str(p) for p in (exception.filename, exception.filename2) if p)
    return f"{exception.strerror or type(exception).__name__}: {paths}"


def run_command(run, args):
    """Runs `run(args)` and turns its errors into exit codes (see `transfer_keras.cli`)."""
    try:
        with sigterm_as_interrupt():  # `kill PID` cleans up like Ctrl-C, then exit 143
            return run(args)
    except Terminated:
        error("terminated (SIGTERM)")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        error("interrupted (Ctrl-C)")
        return EXIT_INTERRUPTED
    except ResourceUnavailableError as exception:  # before OSError: these are OSErrors too
        error(error_message(exception))
        return EXIT_FAILED
    except (ValueError, TypeError) as exception:  # UsageError is a ValueError
        error(error_message(exception))
        return EXIT_USAGE
    except OSError as exception:
        error(os_error_message(exception))
        return EXIT_FAILED
