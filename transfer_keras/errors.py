"""The exceptions of transfer_keras: whose problem is it, and who can fix it?

    TransferKerasError                  every error this library defines
    ├── ResourceUnavailableError        the machine lacks something: weights, a data set,
    │   │                               the example kit (fix: copy or download it)
    │   ├── WeightsUnavailableError     (re-exported by backbones.py; also a FileNotFoundError)
    │   ├── FashionMNISTUnavailableError  (data.py; also a FileNotFoundError)
    │   └── KitUnavailableError         (kit.py; also a FileNotFoundError)
    ├── ArgumentError                   a bad argument to a library function; `.argument`
    │   │                               names it (e.g. "image_size"), so the command line
    │   │                               can name its flag instead
    │   ├── ArgumentValueError          a wrong value (also a ValueError)
    │   └── ArgumentTypeError           a wrong type (also a TypeError)
    └── UsageError                      a mistake on the command line (also a ValueError)

Mistakes in the arguments of a library function are `ValueError` and `TypeError`,
as in Keras; the `Argument...Error` subclasses add the argument's name. The `transfer-keras` command maps these families to
exit codes: 2 for the user's mistakes (`ValueError`, `TypeError`, `UsageError`),
1 for the environment (`ResourceUnavailableError` and any other `OSError`:
permission denied, disk full), so a script can tell them apart.

The three `...UnavailableError`s keep `FileNotFoundError` as a base, so
`except FileNotFoundError:` written before this module existed still catches them.
"""


class TransferKerasError(Exception):
    """Base of every exception transfer_keras defines."""


class ResourceUnavailableError(TransferKerasError):
    """Something the code needs is not on this machine (weights, data, the kit).

    Not a mistake in the arguments: the message says where the file is looked
    for and how to get it there.
    """


class WeightsUnavailableError(FileNotFoundError, ResourceUnavailableError):
    """Raised when a backbone's ImageNet weights are neither cached nor obtainable here."""

    def __init__(self, message, *, argument=None):
        super().__init__(message)
        self.argument = argument  # the argument that avoids it, as in `ArgumentError`


class UsageError(TransferKerasError, ValueError):
    """A mistake on the command line; `transfer-keras` prints it and exits with code 2."""


class ArgumentError(TransferKerasError):
    """A bad argument to a library function; `argument` is its name (or None).

    Example:
    >>> error = ArgumentValueError("`epochs` must be >= 1; received 0.", argument="epochs")
    >>> error.argument, isinstance(error, ValueError)
    ('epochs', True)
    """

    def __init__(self, message, *, argument=None):
        super().__init__(message)
        self.argument = argument


class ArgumentValueError(ArgumentError, ValueError):
    """An argument with a wrong value (also a `ValueError`)."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of a wrong type (also a `TypeError`)."""
