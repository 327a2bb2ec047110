"""Which stage-2 recipe pays? Six fine-tuning recipes, 5 seeds, two photo tasks, with baselines.

Tasks (EfficientNet-Lite0, ImageNet weights, IMAGE_SIZE px):
- `kit`: the example kit's ants/bees, train/ (183), val/ (61), test/ (153);
- `weather`: `../shared/data/weather` (4 classes ImageNet has no names for),
  labels made scarce on purpose: per seed, WEATHER_TRAIN photos per class from
  train/ to train on and WEATHER_VAL per class for validation; test/ is scored
  without the copies of photos that are also in train/ (by the originals'
  sha256 in its manifest.csv).

Per seed, stage 1 (the head on cached features) runs once, and every recipe
starts stage 2 from that same head:
- `frozen`: stage 1 only;
- `two_stage_today`: the whole backbone at 3e-5 for 10 epochs (the library's
  default before this benchmark);
- `two_stage_range_test`: the same at the rate `find_learning_rate` suggests
  for stage 2 (range test run once per task, on seed 0's head);
- `top_third`: the top third of the backbone (`layer_groups(model, 4)`) at 3e-4;
- `discriminative`: the whole backbone, head at 1e-3 and each of 3 backbone
  groups below at 0.3 times the rate above (`lr_decay=0.3`);
- `gradual`: the same rates, groups unfrozen one at a time from the top
  (`gradual=True`, up to EPOCHS epochs each).
The last three use warm-up (one epoch) and cosine decay (`schedule="cosine"`)
and EPOCHS epochs at most (the two-stage ones 10).
- `default`: `fine_tune` with no recipe argument: the library's defaults, set
  after `choose_fine_tuning.py` chose `two_stage_range_test` (the whole
  backbone at 9.25e-5, the kit's range-test rate, for up to 10 epochs: the
  rate is EfficientNet-Lite0's own, `BackboneSpec.fine_tune_learning_rate`);
  `rounded_1e-4`: the same at 1e-4, the first default tried.
Every stage 2 has early stopping (patience 3) on the validation loss, which
also picks stage 1's head when stage 2 never beats it.

Baselines on the same splits: majority class, logistic regression on 32x32
pixels, the linear probe on frozen features (C chosen on validation), and the
small CNN from scratch (learning rate 3e-3, up to 110 epochs, early stopping).

The choice among the six is `choose_fine_tuning.py`'s cross-validation: the
validation photos here (61 kit, 80 weather) are too few to choose on. The
lowest mean validation loss (`lowest_val_loss`) is printed for information;
the test photos play no part in either. Writes
benchmarks/fine_tuning.json and prints the table. From the repository
root (about 45 minutes on 2 cores):

    .venv/bin/python benchmarks/fine_tuning.py [--seeds 0 1 2 3 4] [--tasks kit weather]
"""

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WEATHER = HERE.parent.parent / "shared" / "data" / "weather"
IMAGE_SIZE = 160
EPOCHS = 8
PATIENCE = 3
WEATHER_TRAIN, WEATHER_VAL = 40, 20
# The six candidates of the fine-tuning issue (choose_fine_tuning.py chooses among them).
CANDIDATES = {
    "two_stage_today": dict(fraction=1.0, learning_rate=3e-5, epochs=10),
    "two_stage_range_test": dict(fraction=1.0, learning_rate="range_test", epochs=10),
    "top_third": dict(top_groups=1, learning_rate=3e-4, schedule="cosine", warmup_epochs=1,
                      epochs=EPOCHS),
    "discriminative": dict(fraction=1.0, learning_rate=1e-3, lr_decay=0.3,
                           schedule="cosine", warmup_epochs=1, epochs=EPOCHS),
    "gradual": dict(fraction=1.0, learning_rate=1e-3, lr_decay=0.3, gradual=True,
                    schedule="cosine", warmup_epochs=1, epochs=EPOCHS),
}
# And after the choice: `rounded_1e-4`, the chosen recipe at the kit's range-test
# rate rounded (measured first as the default, 2026-12-07), and `default`: `fine_tune`
# with no recipe argument, i.e. the library's defaults (the whole backbone at
# STAGE_LEARNING_RATES["fine_tune"] for up to DEFAULT_FINE_TUNE_EPOCHS epochs).
RECIPES = {**CANDIDATES, "rounded_1e-4": dict(fraction=1.0, learning_rate=1e-4, epochs=10),
           "default": {}}


def _kit():
    import transfer_keras as tk

    report = tk.kit.load_example_photos(image_size=IMAGE_SIZE, shuffle=False).report
    return {"classes": 2, "by_seed": lambda seed: (
        (report.train_images, report.train_labels), (report.val_images, report.val_labels),
        (report.test_images, report.test_labels))}


def _weather():
    import transfer_keras as tk

    if not WEATHER.is_dir():
        raise SystemExit(f"No weather photos at {WEATHER}: this task needs ../shared.")
    data = tk.load_image_folder(WEATHER, IMAGE_SIZE, shuffle=False)
    report = data.report
    with open(WEATHER / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_hashes = {row["original_sha256"] for row in rows if row["split"] == "train"}
    test_copies = {(row["class"], row["file"]) for row in rows
                   if row["split"] == "test" and row["original_sha256"] in train_hashes}
    test_files = [Path(path) for path in report.test_paths]
    keep = np.array([(path.parent.name, path.name) not in test_copies for path in test_files])
    print(f"weather: {len(keep) - keep.sum()} test photos dropped (copies of train photos)")
    test = (report.test_images[keep], report.test_labels[keep])
    images, labels = report.train_images, report.train_labels

    def by_seed(seed):
        rng = np.random.default_rng(seed)
        train, val = [], []
        for label in np.unique(labels):
            chosen = rng.permutation(np.flatnonzero(labels == label))
            train += list(chosen[:WEATHER_TRAIN])
            val += list(chosen[WEATHER_TRAIN:WEATHER_TRAIN + WEATHER_VAL])
        train, val = np.sort(train), np.sort(val)
        return (images[train], labels[train]), (images[val], labels[val]), test

    return {"classes": len(data.class_names), "by_seed": by_seed}


TASKS = {"kit": _kit, "weather": _weather}


def _baselines(task, seed, train, val, test):
    import transfer_keras as tk
    from transfer_keras import baselines

    rows = [("majority", baselines.majority_baseline(train[1], test[1]).accuracy),
            ("pixels_logistic", baselines.pixels_logistic(train, val, test).accuracy)]
    tk.set_seed(seed)
    model = baselines.build_small_cnn(task["classes"], (IMAGE_SIZE, IMAGE_SIZE, 3))
    train_ds = tk.prepare(train, batch_size=32, shuffle=True, seed=seed)
    val_ds, test_ds = tk.prepare(val, batch_size=64), tk.prepare(test, batch_size=64)
    tk.train_from_scratch(model, train_ds, val_ds, epochs=110, learning_rate=3e-3,
                          patience=10, verbose=0)
    rows.append(("scratch", model.evaluate(test_ds, verbose=0)[1]))
    return rows


def recipe_arguments(model, recipe, range_rate):
    import transfer_keras as tk

    arguments = dict(recipe)
    if "top_groups" in arguments:  # the top third: the highest of three backbone groups
        groups = tk.layer_groups(model, 4)
        arguments["from_layer"] = groups[-1 - arguments.pop("top_groups")].layers[0].name
    if arguments.get("learning_rate") == "range_test":
        arguments["learning_rate"] = range_rate
    return arguments


def run_task(name, seeds, recipes=RECIPES, with_baselines=True, range_rate=None):
    import keras

    import transfer_keras as tk
    from transfer_keras import baselines

    task = TASKS[name]()
    runs = []
    for seed in seeds:
        train, val, test = task["by_seed"](seed)
        for method, accuracy in _baselines(task, seed, train, val, test) if with_baselines else ():
            runs.append({"task": name, "seed": seed, "method": method,
                         "accuracy": round(float(accuracy), 4)})
            print(json.dumps(runs[-1]), flush=True)
        tk.set_seed(seed)
        train_ds = tk.prepare(train, batch_size=32, shuffle=True, seed=seed)
        val_ds, test_ds = tk.prepare(val, batch_size=64), tk.prepare(test, batch_size=64)
        model = tk.build_classifier("efficientnet_lite0", task["classes"],
                                    input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        if with_baselines:
            probe = baselines.linear_probe(model, train, val, test)
            runs.append({"task": name, "seed": seed, "method": "probe",
                         "accuracy": round(probe.accuracy, 4)})
        began = time.perf_counter()
        tk.train_head(model, train_ds, val_ds, patience=5, verbose=0)
        head_seconds = time.perf_counter() - began
        head_weights = model.get_weights()
        head_accuracy = model.evaluate(test_ds, verbose=0)[1]
        head_val_loss, head_val_accuracy = model.evaluate(val_ds, verbose=0)
        runs.append({"task": name, "seed": seed, "method": "frozen",
                     "accuracy": round(float(head_accuracy), 4),
                     "val_loss": round(float(head_val_loss), 4),
                     "val_accuracy": round(float(head_val_accuracy), 4),
                     "seconds": round(head_seconds, 1), "epochs": 0})
        print(json.dumps(runs[-1]), flush=True)
        if range_rate is None and "two_stage_range_test" in recipes:
            found = tk.find_learning_rate(model, train_ds, stage="fine_tune")
            range_rate = float(found.suggestion)
            print(f"{name}: the range test suggests {range_rate:.2g} for stage 2", flush=True)
            model.set_weights(head_weights)
        for method, recipe in recipes.items():
            tk.set_seed(seed)
            model.set_weights(head_weights)
            arguments = recipe_arguments(model, recipe, range_rate)
            began = time.perf_counter()
            history = tk.fine_tune(model, train_ds, val_ds, patience=PATIENCE, verbose=0,
                                   **arguments)
            seconds = time.perf_counter() - began
            kept = "fine_tune"
            if not min(history.history["val_loss"]) < head_val_loss:
                model.set_weights(head_weights)  # as train_two_stage: keep the better stage
                kept = "head"
            accuracy = model.evaluate(test_ds, verbose=0)[1]
            val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
            runs.append({"task": name, "seed": seed, "method": method,
                         "accuracy": round(float(accuracy), 4),
                         "val_loss": round(float(val_loss), 4),
                         "val_accuracy": round(float(val_accuracy), 4),
                         "seconds": round(head_seconds + seconds, 1),
                         "epochs": len(history.epoch), "kept": kept,
                         "steps": getattr(history, "steps", None)})
            print(json.dumps(runs[-1]), flush=True)
        keras.backend.clear_session()
    return runs, range_rate


METHODS = ("majority", "pixels_logistic", "scratch", "probe", "frozen", *RECIPES)


def summary(runs, task):
    rows = []
    for method in METHODS:
        mine = [run for run in runs if run["task"] == task and run["method"] == method]
        if not mine:
            continue
        accuracy = np.array([run["accuracy"] for run in mine])
        row = {"task": task, "method": method, "mean": round(float(accuracy.mean()), 4),
               "std": round(float(accuracy.std(ddof=1)) if len(mine) > 1 else 0.0, 4),
               "seeds": len(mine)}
        if "val_loss" in mine[0]:
            row["val_loss"] = round(float(np.mean([run["val_loss"] for run in mine])), 4)
        if "seconds" in mine[0]:
            row["seconds"] = round(float(np.mean([run["seconds"] for run in mine])), 1)
            row["epochs"] = round(float(np.mean([run["epochs"] for run in mine])), 1)
            row["kept_fine_tune"] = sum(run.get("kept") == "fine_tune" for run in mine)
        rows.append(row)
    return rows


def lowest_val_loss(rows):
    """The recipe with the lowest validation loss, averaged over the tasks' seed means
    (for information: too few validation photos to choose on)."""
    recipes = ("frozen", *RECIPES)
    tasks = sorted({row["task"] for row in rows})
    mean = {method: np.mean([row["val_loss"] for row in rows
                             if row["method"] == method and row["task"] in tasks])
            for method in recipes}
    return min(recipes, key=mean.get), {method: round(float(v), 4) for method, v in mean.items()}


def paired(runs, task, method, against="frozen"):
    """Per-seed differences `method - against` on the same seed's test photos."""
    by_seed = {(run["method"], run["seed"]): run["accuracy"] for run in runs
               if run["task"] == task}
    seeds = sorted(seed for (m, seed) in by_seed if m == method)
    return [round(by_seed[(method, seed)] - by_seed[(against, seed)], 4) for seed in seeds]


def default_recipe():
    """What `default` ran: the library's stage-2 defaults at the time of the run."""
    from transfer_keras import backbones, callbacks, stages

    spec = backbones.get_backbone_spec("efficientnet_lite0")  # the benchmark's backbone
    return {"learning_rate": spec.fine_tune_learning_rate,
            "epochs": stages.DEFAULT_FINE_TUNE_EPOCHS,
            "fraction": stages.DEFAULT_FINE_TUNE_FRACTION,
            "warmup_epochs": callbacks.DEFAULT_WARMUP_EPOCHS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", type=Path, default=HERE / "fine_tuning.json")
    parser.add_argument("--only", nargs="+", choices=list(RECIPES),
                        help="run stage 1 and these recipes only (no baselines) and merge "
                             "their runs into --out, replacing earlier runs of them")
    args = parser.parse_args()
    began = time.perf_counter()
    earlier = json.loads(args.out.read_text()) if args.only else None
    recipes = {name: RECIPES[name] for name in args.only} if args.only else RECIPES
    runs, range_rates = [], {}
    for task in args.tasks:
        task_runs, range_rates[task] = run_task(
            task, args.seeds, recipes, with_baselines=not args.only,
            range_rate=earlier["range_test_rates"][task] if earlier else None)
        runs += task_runs
    seconds, load = round(time.perf_counter() - began), round(os.getloadavg()[0], 1)
    merged = []
    if earlier:
        replaced = {(run["task"], run["seed"], run["method"]) for run in runs}
        runs = [run for run in earlier["runs"]
                if (run["task"], run["seed"], run["method"]) not in replaced] + runs
        runs.sort(key=lambda run: (list(TASKS).index(run["task"]), run["seed"]))
        merged = earlier.get("merged", []) + [{
            "recipes": args.only, "tasks": args.tasks, "seeds": args.seeds,
            "seconds": seconds, "load_average": load,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}]
        seconds, load = earlier["seconds"], earlier["load_average"]
        range_rates = earlier["range_test_rates"]
        args.tasks = list(dict.fromkeys(run["task"] for run in runs))
    rows = [row for task in args.tasks for row in summary(runs, task)]
    print("\n| task | method | test accuracy | std | val loss | seconds | epochs | "
          "stage 2 kept |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['task']} | {row['method']} | {row['mean']:.3f} | {row['std']:.3f} | "
              f"{row.get('val_loss', '')} | {row.get('seconds', '')} | {row.get('epochs', '')} | "
              f"{row.get('kept_fine_tune', '')} |")
    lowest, val_losses = lowest_val_loss(rows)
    print(f"\nLowest mean validation loss (for information): {lowest} "
          f"{json.dumps(val_losses)}")
    differences = {task: {method: paired(runs, task, method) for method in RECIPES}
                   for task in args.tasks}
    print("\nPer seed, recipe minus frozen:", json.dumps(differences))
    print(f"{time.perf_counter() - began:.0f} s, load average {os.getloadavg()[0]:.1f}.")
    args.out.write_text(json.dumps({
        "image_size": IMAGE_SIZE, "epochs": EPOCHS, "patience": PATIENCE,
        "weather_labels_per_class": {"train": WEATHER_TRAIN, "val": WEATHER_VAL},
        "range_test_rates": range_rates, "recipes": RECIPES, "rows": rows,
        "default_recipe": default_recipe(),
        "lowest_val_loss": lowest, "mean_val_loss": val_losses,
        "minus_frozen": differences, "seconds": seconds, "load_average": load,
        "merged": merged, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
