"""Source / target tasks and few-label subsets of a labelled set.

- `split_classes`: two tasks with disjoint classes (source and target).
- `sample_per_class`: `n` random images of every class, nested across `n`.
"""

import dataclasses

import numpy as np

from transfer_keras._checks import check_labels, check_seed, check_whole_number, is_whole_number
from transfer_keras.errors import ArgumentTypeError, ArgumentValueError


@dataclasses.dataclass(frozen=True, eq=False)  # holds numpy arrays
class LabelledImages:
    """Images with integer labels `0..k-1` and the `k` class names they stand for."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list


# ----------------------------------------------------------------------------
# Source / target tasks and few-label subsets.


def _class_ids(classes, argument, class_names, present):
    """Returns the label ids of `classes` (ids or names), checking they exist."""
    if isinstance(classes, str) or is_whole_number(classes):
        classes = [classes]
    ids = []
    for item in classes:
        if isinstance(item, str):
            if class_names is None or item not in list(class_names):
                known = [] if class_names is None else list(map(str, class_names))
                raise ArgumentValueError(
                    f"Unknown class {item!r} in `{argument}`. Known names: "
                    f"{', '.join(known) or 'none'} (pass `class_names` to use names).",
                    argument=argument)
            item = list(class_names).index(item)
        if not is_whole_number(item):
            raise ArgumentTypeError(f"`{argument}` must list class ids or names; received "
                                    f"{item!r}.", argument=argument)
        if int(item) not in present:
            raise ArgumentValueError(f"Class {item!r} in `{argument}` has no images; the "
                                     f"labels present are {sorted(present)}.",
                                     argument=argument)
        ids.append(int(item))
    if not ids or len(set(ids)) != len(ids):
        raise ArgumentValueError(f"`{argument}` must list one or more distinct classes; "
                                 f"received {classes!r}.", argument=argument)
    return ids


def split_classes(images, labels, source_classes, target_classes, *, class_names=None):
    """Splits a labelled set into two tasks with disjoint classes (source and target).

    Args:
        images: array of images, one per label.
        labels: 1-D integer labels.
        source_classes: class ids (or names, with `class_names`) of the source task.
        target_classes: class ids (or names) of the target task.
        class_names: names of the original labels. Defaults to `None` (the new
            class names are then the original ids as strings).

    Returns:
        `(source, target)`, each a `LabelledImages(images, labels, class_names)`
        whose labels are re-indexed `0..k-1` in the order the classes were given.

    Raises:
        ValueError: empty, repeated, unknown or overlapping classes, or mismatched lengths.

    Example:
    >>> images, labels = np.zeros((6, 4, 4)), np.array([0, 1, 2, 0, 1, 2])
    >>> source, target = split_classes(images, labels, [2, 0], [1])
    >>> source.labels.tolist(), source.class_names
    ([1, 0, 1, 0], ['2', '0'])
    """
    images, labels = np.asarray(images), np.asarray(labels)
    check_labels(labels)  # whole numbers from 0 (the arrays keep their dtype)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ArgumentValueError(
            f"`labels` must be 1-D with one label per image; received "
            f"{len(images)} images and labels of shape {labels.shape}.", argument="labels")
    present = set(np.unique(labels).tolist())
    if class_names is not None and present and max(present) >= len(class_names):
        raise ArgumentValueError(
            f"`class_names` must name every label (up to {max(present)}); "
            f"received {len(class_names)} name(s). Pass one name per class, in "
            f"label order, or None.", argument="class_names")
    source_ids = _class_ids(source_classes, "source_classes", class_names, present)
    target_ids = _class_ids(target_classes, "target_classes", class_names, present)
    overlap = sorted(set(source_ids) & set(target_ids))
    if overlap:
        raise ArgumentValueError(
            f"`source_classes` and `target_classes` must not overlap; both "
            f"hold {overlap}. A transfer experiment needs new target classes.",
            argument="source_classes")
    tasks = []
    for ids in (source_ids, target_ids):
        mask = np.isin(labels, ids)
        new_label_of = {old: new for new, old in enumerate(ids)}
        new_labels = np.array([new_label_of[old] for old in labels[mask].tolist()], np.int32)
        names = [str(class_names[i]) if class_names is not None else str(i) for i in ids]
        tasks.append(LabelledImages(images[mask], new_labels, names))
    return tuple(tasks)


def sample_per_class(images, labels, n, *, seed=0):
    """Picks `n` random images of every class: a balanced, few-label training set.

    The same seed picks nested subsets: the 5 per class chosen for `n=5` are
    among the 10 chosen for `n=10`. The result keeps the original order.

    Args:
        images: array of images, one per label.
        labels: 1-D integer labels.
        n: images per class, a positive int.
        seed: the random seed. Defaults to `0`.

    Returns:
        `(images, labels)` with `n` images of each class.

    Raises:
        ValueError: `n` is not a positive int, or a class has fewer than `n` images.

    Example:
    >>> images, labels = sample_per_class(np.zeros((6, 4, 4)), np.array([0, 1] * 3), 2)
    >>> np.bincount(labels).tolist()
    [2, 2]
    """
    n = check_whole_number(n, "n")
    seed = check_seed(seed)
    images, labels = np.asarray(images), np.asarray(labels)
    check_labels(labels)  # whole numbers from 0 (the arrays keep their dtype)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ArgumentValueError(
            f"`labels` must be 1-D with one label per image; received "
            f"{len(images)} images and labels of shape {labels.shape}.", argument="labels")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        if len(indices) < n:
            raise ValueError(f"Class {label} has only {len(indices)} image(s), fewer than "
                             f"n={n}. Use n <= {len(indices)} or add images.")
        chosen.append(rng.permutation(indices)[:n])
    chosen = np.sort(np.concatenate(chosen))
    return images[chosen], labels[chosen]
