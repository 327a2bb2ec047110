"""Argument checks shared by the whole library, so every module accepts the same values.

Python and NumPy numbers are accepted alike: `np.int64(3)` (e.g. from `labels.max() + 1`)
is a whole number just as `3` is. `True` and `False` are not numbers here, and
`3.0` is not a whole number. Each check raises `ArgumentValueError` (a `ValueError`)
or `ArgumentTypeError` (a `TypeError`) naming the argument in `.argument`, with what
was received and what is allowed, and returns the value as a plain Python number.

- `is_whole_number` / `check_whole_number`: counts, sizes, indices (`num_classes`,
  `batch_size`, `num_layers`, `k`, ...).
- `is_number` / `check_positive_number` / `check_fraction`: learning rates, dropout
  rates, fractions.
- `is_one_of` / `check_choice`: one of a few allowed values (`pooling`, ...).
- `check_image_size`: an int or a `(height, width)` pair.
- `check_seed`: a random seed, 0 to 2**32 - 1 (NumPy's range).
- `check_labels`: class labels, whole numbers 0, 1, 2, ... one per example.
"""

import numbers

import numpy as np

from transfer_keras.errors import ArgumentTypeError, ArgumentValueError

FRACTION_INTERVALS = {  # interval -> (lower bound included, upper bound included)
    "[0, 1]": (True, True),
    "[0, 1)": (True, False),
    "(0, 1]": (False, True),
    "(0, 1)": (False, False),
}


def is_whole_number(value):
    """Returns True for Python and NumPy integers; False for bools, floats and the rest."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Returns True for Python and NumPy ints and floats; False for bools and the rest."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_one_of(value, choices):
    """Returns True if `value` equals one of `choices`; `True` is not `1` and `3.0` is not `3`."""
    return any(value == choice and is_whole_number(value) == is_whole_number(choice)
               for choice in choices)


def _ending(hint):
    return f" {hint}" if hint else ""


def check_whole_number(value, name, minimum=1, maximum=None, what="a whole number", hint=""):
    """Returns `value` as an int, or raises ValueError unless it is a whole number in range.

    Args:
        value: the argument to check.
        name: the argument's name, for the message.
        minimum: the smallest allowed value. Defaults to `1`.
        maximum: the largest allowed value. Defaults to `None` (no upper bound).
        what: what the value is, for the message. Defaults to `"a whole number"`.
        hint: a sentence added to the message (how to fix it). Defaults to `""`.

    Example:
    >>> check_whole_number(np.int64(3), "num_classes")
    3
    """
    if (not is_whole_number(value) or value < minimum
            or (maximum is not None and value > maximum)):
        allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ArgumentValueError(f"`{name}` must be {what} {allowed}; received {value!r}."
                                 f"{_ending(hint)}", argument=name)
    return int(value)


def check_positive_number(value, name, hint=""):
    """Returns `value` as a float, or raises ValueError unless it is a number > 0.

    Example:
    >>> check_positive_number(1e-3, "learning_rate")
    0.001
    """
    if not is_number(value) or not value > 0:
        raise ArgumentValueError(f"`{name}` must be a positive number; received {value!r}."
                                 f"{_ending(hint)}", argument=name)
    return float(value)


def check_fraction(value, name, interval="[0, 1]", what="a number", hint=""):
    """Returns `value` as a float, or raises ValueError unless it lies in `interval`.

    Args:
        value: the argument to check.
        name: the argument's name, for the message.
        interval: one of `FRACTION_INTERVALS`: `"[0, 1]"`, `"[0, 1)"`, `"(0, 1]"`
            or `"(0, 1)"`. Defaults to `"[0, 1]"`.
        what: what the value is, for the message. Defaults to `"a number"`.
        hint: a sentence added to the message. Defaults to `""`.

    Example:
    >>> check_fraction(0.5, "dropout", "[0, 1)", what="a rate")
    0.5
    """
    with_zero, with_one = FRACTION_INTERVALS[interval]
    if not (is_number(value) and (0 <= value if with_zero else 0 < value)
            and (value <= 1 if with_one else value < 1)):
        raise ArgumentValueError(f"`{name}` must be {what} in {interval}; received "
                                 f"{value!r}.{_ending(hint)}", argument=name)
    return float(value)


def check_choice(value, name, choices, hint=""):
    """Returns `value`, or raises ValueError unless it is one of `choices`.

    Example:
    >>> check_choice("avg", "pooling", ("avg", "max"))
    'avg'
    """
    if not is_one_of(value, choices):
        raise ArgumentValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}; "
                                 f"received {value!r}.{_ending(hint)}", argument=name)
    return value


MAX_SEED = 2**32 - 1  # the largest seed NumPy, scikit-learn and keras.utils accept


def check_seed(seed, name="seed", allow_none=False):
    """Returns `seed` as an int (or None where allowed); raises TypeError for
    anything but a whole number and ValueError outside 0 .. 2**32 - 1.

    Example:
    >>> check_seed(np.int64(7))
    7
    """
    if seed is None and allow_none:
        return None
    if not is_whole_number(seed):
        raise ArgumentTypeError(f"`{name}` must be a whole number"
                                f"{' or None' if allow_none else ''}; received {seed!r}. "
                                f"Use e.g. {name}=0.", argument=name)
    if not 0 <= seed <= MAX_SEED:
        raise ArgumentValueError(f"`{name}` must be from 0 to 2**32 - 1 ({MAX_SEED}); "
                                 f"received {seed}. Use e.g. {name}=0.", argument=name)
    return int(seed)


def check_image_size(image_size):
    """Returns `(height, width)` from an int or a pair, or raises ValueError."""
    size = (image_size, image_size) if is_whole_number(image_size) else image_size
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(is_whole_number(s) and s > 0 for s in size)):
        raise ArgumentValueError(
            f"`image_size` must be a positive int or a (height, width) pair of positive "
            f"ints; received {image_size!r}. Example: image_size=224 or (224, 224).",
            argument="image_size")
    return int(size[0]), int(size[1])


def check_labels(labels, name="labels"):
    """Returns `labels` as a 1-D int64 array, or raises ValueError naming `name`.

    Accepts whole numbers from 0 up, as ints or as floats with no fraction
    (`1.0`, as NumPy often gives), shaped `(n,)` or `(n, 1)`. Refuses one-hot
    rows, fractions (`0.5` used to become class 0), NaN, negative numbers,
    strings and booleans, each with the fix.

    Example:
    >>> check_labels([0.0, 1.0, 1.0]).tolist()
    [0, 1, 1]
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ArgumentValueError(
            f"`{name}` must be whole numbers 0..num_classes-1, one per example; received "
            f"an array of shape {array.shape}. Convert one-hot labels with "
            f"`labels.argmax(axis=1)`.", argument=name)
    if array.dtype.kind not in "iuf":  # ints, unsigned ints, floats; not bools or strings
        kind = "booleans" if array.dtype.kind == "b" else f"values of type {array.dtype}"
        raise ArgumentValueError(
            f"`{name}` must be whole numbers 0..num_classes-1; received {kind} "
            f"(e.g. {array[:3].tolist()!r}). Turn class names into numbers first, e.g. "
            f"`[class_names.index(name) for name in names]`.", argument=name)
    if array.dtype.kind == "f":
        bad = array[~np.isfinite(array) | (array != np.round(array))]
        if bad.size:
            raise ArgumentValueError(
                f"`{name}` must be whole numbers 0..num_classes-1; received "
                f"{bad.size} that are not (e.g. {bad[:3].tolist()!r}). Pass the class "
                f"numbers, not probabilities or scores.", argument=name)
    if array.size and array.min() < 0:
        raise ArgumentValueError(
            f"`{name}` must be whole numbers from 0 up; received {int(array.min())}. Number "
            f"the classes 0, 1, 2, ...", argument=name)
    return array.astype(np.int64)
