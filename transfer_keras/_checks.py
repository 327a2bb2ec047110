"""Argument checks shared by the whole library, so every module accepts the same values.

Python and NumPy numbers are accepted alike: `np.int64(3)` (e.g. from `labels.max() + 1`)
is a whole number just as `3` is. `True` and `False` are not numbers here, and
`3.0` is not a whole number. As scikit-learn's `check_scalar`, each check raises
`ArgumentTypeError` (a `TypeError`) for a value of the wrong type (`"3"`, `3.5` or
`True` where a whole number is needed) and `ArgumentValueError` (a `ValueError`)
for a value of the right type out of range (`0` epochs). Both name the argument in
`.argument`; the message ends with what was received and the fix. Each check
returns the value as a plain Python object.

- `is_whole_number` / `check_whole_number` / `check_epochs`: counts, sizes, indices
  (`num_classes`, `batch_size`, `num_layers`, `k`, `epochs`, ...).
- `is_number` / `check_positive_number` / `check_fraction`: learning rates, dropout
  rates, fractions.
- `is_one_of` / `check_choice`: one of a few allowed values (`pooling`, ...).
- `check_image_size`: an int or a `(height, width)` pair.
- `check_seed`: a random seed, 0 to 2**32 - 1 (NumPy's range).
- `check_labels`: class labels, whole numbers 0, 1, 2, ... one per example.
- `check_class_names`: distinct, non-empty names, one per class.
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


def _as_whole_number(value, name):
    """The fix for a whole number given as a float or a string (`3.0`, `"3"`), or ""."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return f"Pass a number, not a string: {name}={int(value)}."
    if is_number(value) and np.isfinite(value) and float(value).is_integer():
        return f"Use {name}={int(value)}."
    return ""


def check_whole_number(value, name, minimum=1, maximum=None, what="a whole number", hint=""):
    """Returns `value` as an int; raises TypeError unless it is a whole number and
    ValueError unless it lies in range.

    Args:
        value: the argument to check.
        name: the argument's name, for the message.
        minimum: the smallest allowed value. Defaults to `1`.
        maximum: the largest allowed value. Defaults to `None` (no upper bound).
        what: what the value is, for the message. Defaults to `"a whole number"`.
        hint: a sentence added to the message (how to fix it). Defaults to `""`.

    Raises:
        ArgumentTypeError: `value` is not a whole number (`3.0`, `"3"`, `True`).
        ArgumentValueError: `value` is below `minimum` or above `maximum`.

    Example:
    >>> check_whole_number(np.int64(3), "num_classes")
    3
    """
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    message = f"`{name}` must be {what} {allowed}; received {value!r}."
    if not is_whole_number(value):
        raise ArgumentTypeError(message + _ending(_as_whole_number(value, name) or hint),
                                argument=name)
    if value < minimum or (maximum is not None and value > maximum):
        raise ArgumentValueError(message + _ending(hint), argument=name)
    return int(value)


def check_epochs(epochs, name="epochs", minimum=1, hint=""):
    """Returns a number of epochs as an int: a whole number >= `minimum`.

    Args:
        epochs: the argument to check.
        name: the argument's name (`"head_epochs"`, `"patience"`, ...).
            Defaults to `"epochs"`.
        minimum: the fewest epochs allowed (0 where none means "skip").
            Defaults to `1`.
        hint: the fix, added to the message. Defaults to `""` (`"Use e.g. epochs=5."`).

    Raises:
        ArgumentTypeError: `epochs` is not a whole number (`5.0`, `"5"`, `True`).
        ArgumentValueError: `epochs` is below `minimum`.

    Example:
    >>> check_epochs(np.int64(5))
    5
    """
    return check_whole_number(epochs, name, minimum, what="a whole number of epochs",
                              hint=hint or f"Use e.g. {name}={max(minimum, 5)}.")


def _as_number(value, name):
    """The fix for a number given as a string (`"1e-3"`), or ""."""
    try:
        number = float(value) if isinstance(value, str) else None
    except ValueError:
        return ""
    return "" if number is None else f"Pass a number, not a string: {name}={number!r}."


def _check_real(value, name, what, hint):
    if not is_number(value):
        raise ArgumentTypeError(f"`{name}` must be {what}; received {value!r}."
                                f"{_ending(_as_number(value, name) or hint)}", argument=name)


def check_positive_number(value, name, hint=""):
    """Returns `value` as a float; raises TypeError unless it is a number and
    ValueError unless it is > 0.

    Example:
    >>> check_positive_number(1e-3, "learning_rate")
    0.001
    """
    _check_real(value, name, "a positive number", hint)
    if not value > 0:
        raise ArgumentValueError(f"`{name}` must be a positive number; received {value!r}."
                                 f"{_ending(hint)}", argument=name)
    return float(value)


def check_fraction(value, name, interval="[0, 1]", what="a number", hint=""):
    """Returns `value` as a float; raises TypeError unless it is a number and
    ValueError unless it lies in `interval`.

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
    _check_real(value, name, f"{what} in {interval}", hint)
    if not ((0 <= value if with_zero else 0 < value)
            and (value <= 1 if with_one else value < 1)):
        raise ArgumentValueError(f"`{name}` must be {what} in {interval}; received "
                                 f"{value!r}.{_ending(hint)}", argument=name)
    return float(value)


def _kind(value):
    """The type family `check_choice` compares: bool, whole number, number, str, None, ..."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if is_whole_number(value):
        return "int"
    if is_number(value):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def check_choice(value, name, choices, hint=""):
    """Returns `value`, or raises unless it is one of `choices`: TypeError when its
    type is that of none of them (`"3"` or `3.0` among `(1, 3)`), else ValueError.

    Example:
    >>> check_choice("avg", "pooling", ("avg", "max"))
    'avg'
    """
    if not is_one_of(value, choices):
        error = (ArgumentValueError if _kind(value) in {_kind(c) for c in choices}
                 else ArgumentTypeError)
        hint = hint or f"Use e.g. {name}={next(iter(choices))!r}."
        raise error(f"`{name}` must be one of {', '.join(map(repr, choices))}; "
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
    """Returns `(height, width)` from an int or a pair; raises TypeError for
    anything but whole numbers and ValueError for sizes < 1 or not a pair.

    Example:
    >>> check_image_size(224)
    (224, 224)
    """
    size = (image_size, image_size) if is_whole_number(image_size) else image_size
    message = (f"`image_size` must be a positive int or a (height, width) pair of positive "
               f"ints; received {image_size!r}. Example: image_size=224 or (224, 224).")
    if not isinstance(size, (tuple, list)) or not all(is_whole_number(s) for s in size):
        raise ArgumentTypeError(message, argument="image_size")
    if len(size) != 2 or not all(s > 0 for s in size):
        raise ArgumentValueError(message, argument="image_size")
    return int(size[0]), int(size[1])


def check_labels(labels, name="labels", num_classes=None):
    """Returns `labels` as a 1-D int64 array, or raises naming `name`.

    Accepts whole numbers from 0 up (below `num_classes`, when given), as ints
    or as floats with no fraction (`1.0`, as NumPy often gives), shaped `(n,)`
    or `(n, 1)`. Refuses one-hot rows, fractions (`0.5` used to become class
    0), NaN and negative numbers (ValueError), strings and booleans (TypeError),
    each with the fix.

    Args:
        labels: the labels to check, one per example.
        name: the argument's name, for the message. Defaults to `"labels"`.
        num_classes: the model's number of classes: labels must be below it.
            Defaults to `None` (no upper bound).

    Raises:
        ArgumentTypeError: the labels are strings, booleans or other non-numbers.
        ArgumentValueError: the labels are not one whole number from 0 (to
            `num_classes - 1`) per example.

    Example:
    >>> check_labels([0.0, 1.0, 1.0]).tolist()
    [0, 1, 1]
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.dtype.kind not in "iuf":  # ints, unsigned ints, floats; not bools or strings
        kind = "booleans" if array.dtype.kind == "b" else f"values of type {array.dtype}"
        raise ArgumentTypeError(
            f"`{name}` must be whole numbers 0..num_classes-1; received {kind} "
            f"(e.g. {array.ravel()[:3].tolist()!r}). Turn class names into numbers first, e.g. "
            f"`[class_names.index(name) for name in names]`.", argument=name)
    if array.ndim != 1:
        raise ArgumentValueError(
            f"`{name}` must be whole numbers 0..num_classes-1, one per example; received "
            f"an array of shape {array.shape}. Convert one-hot labels with "
            f"`labels.argmax(axis=1)`.", argument=name)
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
    if num_classes is not None:
        beyond = sorted(set(array[array >= num_classes].astype(np.int64).tolist()))
        if beyond:
            raise ArgumentValueError(
                f"`{name}` must be from 0 to {num_classes - 1} for the model's {num_classes} "
                f"classes; received label(s) {beyond}. Check that the data and the model "
                f"use the same classes.", argument=name)
    return array.astype(np.int64)


def check_class_names(class_names, num_classes=None, name="class_names"):
    """Returns `class_names` as a list of str: distinct, non-empty names in label order.

    Args:
        class_names: a list or tuple (or 1-D array) of names, one per class.
        num_classes: how many classes the names must name. Defaults to `None`
            (any number).
        name: the argument's name, for the message. Defaults to `"class_names"`.

    Raises:
        ArgumentTypeError: `class_names` is not a list of strings (a single
            string, a dict, numbers, ...).
        ArgumentValueError: a name is empty or repeated, or there are not
            `num_classes` names.

    Example:
    >>> check_class_names(("ant", "bee"), num_classes=2)
    ['ant', 'bee']
    """
    example = [f"class_{index}" for index in range(num_classes or 2)]
    if isinstance(class_names, np.ndarray) and class_names.ndim == 1:
        class_names = class_names.tolist()
    if not isinstance(class_names, (list, tuple)):
        raise ArgumentTypeError(
            f"`{name}` must be a list of class names (str), in label order; received "
            f"{class_names!r}. Example: {name}={example}.", argument=name)
    not_text = [item for item in class_names if not isinstance(item, str)]
    if not_text:
        raise ArgumentTypeError(
            f"`{name}` must hold str only; received {not_text[0]!r} of type "
            f"{type(not_text[0]).__name__} in {list(class_names)!r}. Convert them, e.g. "
            f"[str(name) for name in {name}].", argument=name)
    names = [str(item) for item in class_names]
    if num_classes is not None and len(names) != num_classes:
        head = " (one sigmoid unit counts as 2 classes)" if num_classes == 2 else ""
        raise ArgumentValueError(
            f"`{name}` must name the {num_classes} classes of the model{head}; received "
            f"{len(names)}: {names!r}. Pass one name per class, in label order.",
            argument=name)
    if "" in [item.strip() for item in names]:
        raise ArgumentValueError(f"`{name}` must not hold empty names; received {names!r}. "
                                 f"Give every class a name.", argument=name)
    repeated = sorted({item for item in names if names.count(item) > 1})
    if repeated:
        raise ArgumentValueError(
            f"`{name}` must be different from each other; received {names!r}, where "
            f"{', '.join(map(repr, repeated))} repeat(s). Give each class its own name.",
            argument=name)
    return names
