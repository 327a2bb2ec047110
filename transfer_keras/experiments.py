"""The measured claims of transfer learning.

- `data_efficiency`: with few labels per class, a transferred backbone beats
  the same architecture trained from scratch; the gap shrinks as labels grow.
- `layer_transferability`: transfer the first k blocks of a source backbone and
  retrain the rest (Yosinski et al. 2014, "How transferable are features in
  deep neural networks?").

Both take a `budget` ("quick", "standard", "thorough") that sets the training
steps, so a notebook version finishes in about a minute on a laptop CPU, and
print one progress line per run.
"""

import math
import re
import time

import keras
import numpy as np

from transfer_keras import layout
from transfer_keras._checks import check_choice, is_whole_number
from transfer_keras._table import Table
from transfer_keras.backbones import build_backbone
from transfer_keras.data import prepare, sample_per_class
from transfer_keras.models import build_classifier, build_scratch_classifier
from transfer_keras.stages import compile_for_stage, fit_model
from transfer_keras.training import fine_tune, train_head

# Gradient steps per run (batches of 32). Head steps run on cached features
# and cost almost nothing; fine-tuning and scratch steps run the whole network,
# and scratch gets twice the fine-tuning steps (it has everything to learn).
BUDGETS = {
    "quick": {"head_steps": 200, "fine_tune_steps": 40, "scratch_steps": 80,
              "max_test": 1000},
    "standard": {"head_steps": 300, "fine_tune_steps": 100, "scratch_steps": 200,
                 "max_test": 2000},
    "thorough": {"head_steps": 500, "fine_tune_steps": 300, "scratch_steps": 600,
                 "max_test": 5000},
}
METHODS = ("scratch", "frozen", "fine_tune")
BATCH_SIZE = 32


def _check_budget(budget):
    return BUDGETS[check_choice(budget, "budget", tuple(BUDGETS))]


def _epochs_for(steps, num_images):
    return max(1, math.ceil(steps / math.ceil(num_images / BATCH_SIZE)))


class ExperimentResult(Table):
    """A `Table` of per-point results (mean, std over seeds) plus every single run.

    Attributes:
        rows: one dict per point with the varied quantity, `method`, `mean`, `std`, `runs`.
        runs: one dict per training run (seed, accuracy, seconds).
    """

    def __init__(self, columns, rows, runs, title, notes=()):
        super().__init__(columns, rows, title=title, notes=notes)
        self.runs = runs

    def value(self, method, **point):
        """Returns the mean accuracy of one method at one point, e.g. `labels_per_class=10`."""
        for row in self.rows:
            if row["method"] == method and all(row[k] == v for k, v in point.items()):
                return row["mean"]
        raise KeyError(f"No result for method={method!r} at {point}.")

    def to_dict(self):
        return {**super().to_dict(), "runs": self.runs}


def _summarise(runs, key, title, notes):
    rows = []
    points = sorted({(run[key], run["method"]) for run in runs},
                    key=lambda p: (p[0], METHODS.index(p[1]) if p[1] in METHODS else 9))
    for value, method in points:
        scores = [r["accuracy"] for r in runs if r[key] == value and r["method"] == method]
        rows.append({key: value, "method": method, "mean": float(np.mean(scores)),
                     "std": float(np.std(scores)), "runs": len(scores)})
    return ExperimentResult([key, "method", "mean", "std", "runs"], rows, runs, title,
                            notes)


def _test_set(test_images, test_labels, num_classes, max_test, image_size):
    """A balanced test set of at most `max_test` images, as a dataset."""
    per_class = min(max_test // num_classes, int(np.bincount(test_labels).min()))
    images, labels = sample_per_class(test_images, test_labels, per_class, seed=0)
    return prepare((images, labels), image_size=image_size, batch_size=256), len(labels)


def _record(runs, model, test_ds, start, verbose, **run):
    """Scores a trained model, stores the run, prints one progress line."""
    run["accuracy"] = float(model.evaluate(test_ds, verbose=0)[1])
    run["seconds"] = round(time.perf_counter() - start, 2)
    runs.append(run)
    if verbose:
        described = "  ".join(f"{key} {value}" for key, value in run.items()
                              if key not in ("accuracy", "seconds"))
        print(f"{described}  accuracy {run['accuracy']:.3f}  ({run['seconds']:.1f} s)",
              flush=True)


def data_efficiency(backbone, train_images, train_labels, test_images, test_labels,
                    weights, *, labels_per_class=(5, 10, 20, 50, 100), methods=METHODS,
                    seeds=(0, 1, 2), image_size=None, budget="standard",
                    fine_tune_fraction=1.0, fine_tune_learning_rate=1e-4, verbose=True,
                    **backbone_kwargs):
    """Measures test accuracy against labels per class: scratch vs transfer.

    For every labels-per-class value and seed, a balanced training set is
    drawn from the pool (`sample_per_class`) and each method is trained on it:
    - `"scratch"`: the same architecture, random weights, everything trainable;
    - `"frozen"`: transferred backbone frozen, new head trained (cached features);
    - `"fine_tune"`: the frozen recipe, then the top of the backbone fine-tuned.

    Args:
        backbone: a backbone name, e.g. `"mobilenet"`.
        train_images, train_labels: the target task's labelled pool.
        test_images, test_labels: the target task's test set.
        weights: the transferred weights: `"imagenet"` or a weights file path.
        labels_per_class: the x axis. Defaults to `(5, 10, 20, 50, 100)`.
        methods: any of `"scratch"`, `"frozen"`, `"fine_tune"`. Defaults to all three.
        seeds: one run per seed per point. Defaults to `(0, 1, 2)`.
        image_size: side the images are resized to. Defaults to `None` (as given).
        budget: `"quick"`, `"standard"` or `"thorough"` (`BUDGETS`). Defaults to
            `"standard"`.
        fine_tune_fraction: top fraction of the backbone to unfreeze (BatchNorm
            stays frozen). Defaults to `1.0` (all of it).
        fine_tune_learning_rate: stage-2 learning rate. Defaults to `1e-4`.
        verbose: print one line per run. Defaults to `True`.
        **backbone_kwargs: e.g. `alpha=0.25`.

    Returns:
        An `ExperimentResult` (rows: labels_per_class, method, mean, std, runs).

    Example:
    >>> result = data_efficiency("mobilenet", x, y, x_test, y_test, weights=path,
    ...                          labels_per_class=(5, 20), methods=("frozen",),
    ...                          seeds=(0,), budget="quick", verbose=False, alpha=0.25)
    >>> figure = plot_data_efficiency(result)
    """
    settings = _check_budget(budget)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"`methods` must be chosen from {METHODS}; received {methods!r}.")
    if not len(labels_per_class) or not len(seeds):
        raise ValueError(f"`labels_per_class` and `seeds` must each hold at least one value; "
                         f"received {tuple(labels_per_class)!r} and {tuple(seeds)!r}.")
    num_classes = len(np.unique(train_labels))
    test_ds, num_test = _test_set(test_images, test_labels, num_classes,
                                  settings["max_test"], image_size)
    input_shape = tuple(test_ds.element_spec[0].shape[1:])
    runs = []
    for n in labels_per_class:
        for seed in seeds:
            images, labels = sample_per_class(train_images, train_labels, n, seed=seed)
            train_ds = prepare((images, labels), image_size=image_size, batch_size=BATCH_SIZE,
                               shuffle=True, seed=seed)
            head_epochs = _epochs_for(settings["head_steps"], len(labels))
            fine_epochs = _epochs_for(settings["fine_tune_steps"], len(labels))
            scratch_epochs = _epochs_for(settings["scratch_steps"], len(labels))
            trained_head = None
            for method in methods:
                keras.utils.set_random_seed(seed)
                start = time.perf_counter()
                if method == "scratch":
                    model = build_scratch_classifier(backbone, num_classes, input_shape=input_shape,
                                                     **backbone_kwargs)
                    compile_for_stage(model, stage="head")
                    fit_model(model, train_ds, epochs=scratch_epochs, verbose=0)
                else:
                    model = build_classifier(backbone, num_classes, input_shape=input_shape,
                                             weights=weights, **backbone_kwargs)
                    if trained_head is None:
                        train_head(model, train_ds, epochs=head_epochs, patience=0,
                                   verbose=0)
                        trained_head = layout.predictions_of(model).get_weights()
                    else:  # the fine-tune run starts from the same trained head
                        layout.predictions_of(model).set_weights(trained_head)
                    if method == "fine_tune":
                        fine_tune(model, train_ds, epochs=fine_epochs,
                                  fraction=fine_tune_fraction,
                                  learning_rate=fine_tune_learning_rate,
                                  patience=0, verbose=0)
                _record(runs, model, test_ds, start, verbose, labels_per_class=n,
                        method=method, seed=seed)
    notes = [f"Test accuracy on {num_test:,} held-out images; mean and std over "
             f"{len(seeds)} seed(s); budget {budget!r}."]
    return _summarise(runs, "labels_per_class", "Data efficiency: accuracy vs labels "
                      "per class", notes)


# Which block each backbone layer belongs to, for `layer_transferability`.
# Block 0 is the stem; the rest follow the architecture's own numbering.
BLOCK_PATTERNS = {
    "mobilenet": (r"^conv_(?:dw|pw|pad)_(\d+)", 14),
    "mobilenetv2": (r"^block_(\d+)_", 17),
}


def backbone_blocks(backbone_model, backbone):
    """Maps each layer of a backbone to its block number (0 = stem).

    Args:
        backbone_model: the backbone `keras.Model`.
        backbone: its table name; supported: the keys of `BLOCK_PATTERNS`.

    Returns:
        `(blocks, num_blocks)`: a dict layer name -> block, and the block count.

    Raises:
        ValueError: for a backbone without a block pattern.
    """
    if backbone not in BLOCK_PATTERNS:
        raise ValueError(
            f"layer_transferability knows the blocks of: {', '.join(BLOCK_PATTERNS)}; "
            f"received backbone {backbone!r}. Add its layer-name pattern to "
            f"BLOCK_PATTERNS to support it."
        )
    pattern, num_blocks = BLOCK_PATTERNS[backbone]
    blocks, current = {}, 0
    for layer in backbone_model.layers:
        match = re.match(pattern, layer.name)
        if match:
            current = int(match.group(1))
        blocks[layer.name] = current  # layers after the last block join it
    return blocks, num_blocks


def layer_transferability(backbone, train_images, train_labels, test_images,
                          test_labels, weights, *, blocks=(0, 4, 8, 14),
                          modes=("frozen", "fine_tuned"), labels_per_class=20,
                          seeds=(0,), image_size=None, budget="standard", verbose=True,
                          **backbone_kwargs):
    """Transfers the first k blocks, retrains the rest, for several k.

    For each k: blocks `0..k-1` get the source weights, the others are randomly
    re-initialised, and the whole model is trained on a small target set.
    `"frozen"` keeps the transferred blocks fixed (BatchNorm included);
    `"fine_tuned"` lets them learn too. k = 0 is training from scratch.

    Args:
        backbone: `"mobilenet"` or `"mobilenetv2"` (see `BLOCK_PATTERNS`).
        train_images, train_labels, test_images, test_labels: the target task.
        weights: the source weights file path or `"imagenet"`.
        blocks: the k values. Defaults to `(0, 4, 8, 14)`.
        modes: `"frozen"` and/or `"fine_tuned"`. Defaults to both.
        labels_per_class: size of the target training set. Defaults to `20`.
        seeds: one run per seed. Defaults to `(0,)`.
        image_size, budget, verbose, **backbone_kwargs: as in `data_efficiency`.

    Returns:
        An `ExperimentResult` (rows: blocks_transferred, method, mean, std, runs).
    """
    settings = _check_budget(budget)
    num_classes = len(np.unique(train_labels))
    test_ds, num_test = _test_set(test_images, test_labels, num_classes,
                                  settings["max_test"], image_size)
    input_shape = tuple(test_ds.element_spec[0].shape[1:])
    source = build_backbone(backbone, input_shape=input_shape, weights=weights, **backbone_kwargs)
    block_of, num_blocks = backbone_blocks(source, backbone)
    bad = [k for k in blocks if not (is_whole_number(k) and 0 <= k <= num_blocks)]
    if bad:
        raise ValueError(f"`blocks` must be whole numbers from 0 to {num_blocks}; "
                         f"received {bad}.")
    runs = []
    for seed in seeds:
        images, labels = sample_per_class(train_images, train_labels, labels_per_class,
                                          seed=seed)
        train_ds = prepare((images, labels), image_size=image_size, batch_size=BATCH_SIZE,
                           shuffle=True, seed=seed)
        epochs = _epochs_for(settings["scratch_steps"], len(labels))
        for k in blocks:
            for mode in modes:
                keras.utils.set_random_seed(seed)
                start = time.perf_counter()
                model = build_scratch_classifier(backbone, num_classes, input_shape=input_shape,
                                                 **backbone_kwargs)
                target = layout.backbone_of(model)
                for layer, source_layer in zip(target.layers, source.layers):
                    if block_of[source_layer.name] < k:
                        layer.set_weights(source_layer.get_weights())
                        layer.trainable = mode == "fine_tuned"
                compile_for_stage(model, stage="head")
                fit_model(model, train_ds, epochs=epochs, verbose=0)
                _record(runs, model, test_ds, start, verbose, blocks_transferred=k,
                        method=mode, seed=seed)
    notes = [f"{labels_per_class} labels per class; {num_blocks} blocks in {backbone}; "
             f"k = 0 is training from scratch."]
    return _summarise(runs, "blocks_transferred", "Layer transferability", notes)


# The showcase (real photos, genuine ImageNet weights, every baseline) has a
# module of its own; it is one of the measured claims, so it is listed here too.
from transfer_keras.showcase import ShowcaseResult, run_showcase  # noqa: E402, F401
