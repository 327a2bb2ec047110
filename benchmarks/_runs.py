"""Summaries the seeded benchmark scripts share: mean and spread per method, paired differences.

Each run is a dict with at least `method`, `seed` and `accuracy`. The scripts are
run from the repository root (`.venv/bin/python benchmarks/<script>.py`), so Python
finds this module next to them.
"""

import json
import time

import numpy as np


def summary_rows(runs, methods, *, ddof=0):
    """One row per method: mean and standard deviation of its accuracy over the seeds.

    `ddof=0` (the population standard deviation) is what `showcase.py` reports;
    older JSON files written with `ddof=1` keep it, so the figures stay as published.
    """
    rows = []
    for method in methods:
        values = np.array([run["accuracy"] for run in runs if run["method"] == method])
        rows.append({"method": method, "mean": round(float(values.mean()), 4),
                     "std": round(float(values.std(ddof=ddof)), 4), "seeds": len(values)})
    return rows


def paired_differences(runs, pairs, seeds):
    """`{"a - b": [accuracy of a minus accuracy of b, seed by seed]}` for each `(a, b)`."""
    by = {(run["method"], run["seed"]): run["accuracy"] for run in runs}
    return {f"{a} - {b}": [round(by[(a, seed)] - by[(b, seed)], 4) for seed in seeds]
            for a, b in pairs}


def seeded_two_stage(tk, build, train, val_ds, test_ds, seed, **options):
    """One seeded `tk.train_two_stage` run, seeded and built in the benchmarks' order.

    Returns `(model, history, frozen, seconds)`: `frozen` is the test accuracy after
    stage 1, `seconds` the time of both stages. `options` go to `train_two_stage`.
    """
    tk.set_seed(seed)
    model, after_head = build(), {}
    start = time.perf_counter()
    history = tk.train_two_stage(
        model, tk.prepare(train, batch_size=32, shuffle=True, seed=seed), val_ds, verbose=0,
        after_head=lambda m: after_head.update(accuracy=m.evaluate(test_ds, verbose=0)[1]),
        **options)
    return model, history, after_head["accuracy"], time.perf_counter() - start


def kit_splits(tk, image_size):
    """The kit's photos at `image_size`: `(train, val, test)` arrays, then val and test batches."""
    report = tk.kit.load_example_photos(image_size=image_size, shuffle=False).report
    train = (report.train_images, report.train_labels)
    val = (report.val_images, report.val_labels)
    test = (report.test_images, report.test_labels)
    return train, val, test, tk.prepare(val, batch_size=64), tk.prepare(test, batch_size=64)


def kit_classifier(tk, image_size):
    """The kit's ImageNet MobileNet-0.25 with a new two-class head, at `image_size`."""
    return tk.build_classifier(tk.kit.EXAMPLE_BACKBONE, 2, input_shape=(image_size, image_size, 3),
                               weights=tk.kit.example_weights(), **tk.kit.EXAMPLE_BACKBONE_KWARGS)


def recorder(runs):
    """`record(seed, method, accuracy, **extra)`: appends one run to `runs` and prints it."""
    def record(seed, method, accuracy, **extra):
        runs.append({"seed": seed, "method": method, "accuracy": round(float(accuracy), 4),
                     **extra})
        print(json.dumps(runs[-1]), flush=True)
    return record


def kit_baselines(tk, train, val, test, image_size):
    """The baselines with no random part: majority, pixels_logistic and the kit's probe."""
    from transfer_keras import baselines

    return {"majority": baselines.majority_baseline(train[1], test[1]).accuracy,
            "pixels_logistic": baselines.pixels_logistic(train, val, test).accuracy,
            "probe": baselines.linear_probe(kit_classifier(tk, image_size), train, val,
                                            test).accuracy}
