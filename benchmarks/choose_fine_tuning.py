"""Chooses the library's default stage-2 recipe by cross-validation, never on test photos.

`fine_tuning.py` scores six recipes on test photos; choosing among them on
those scores would make the test split a choice. Its validation parts (61 kit
photos, 80 weather photos) were too small to choose on: the lowest mean
validation loss picked `top_third` by 0.002, a margin inside the seed-to-seed
noise, while `top_third` was 5th of 6 on the weather validation photos.

Here every recipe of `fine_tuning.CANDIDATES` (and `frozen`, stage 1 only) is
trained on 3/4 of the labelled photos a task has outside test/ and scored on
the other quarter (which also drives early stopping), 4 times, with the same
folds and seeds for every recipe:
- kit: train/ + val/ (244 photos);
- weather: the 60 photos per class that seed 0 of `fine_tuning.py` draws from
  train/ (its 40 to train on and 20 to validate on; 240 photos).
The range-test recipe uses the rate `fine_tuning.py` measured per task.

The rule, fixed before this ran: for each task, a recipe's mean held-out
loss divided by `frozen`'s (so both tasks weigh the same); the lowest mean of
those two ratios is the choice. Writes benchmarks/choose_fine_tuning.json.
From the repository root (about 35 minutes on 2 cores):

    .venv/bin/python benchmarks/choose_fine_tuning.py
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fine_tuning  # noqa: E402  (the tasks and recipes measured on test photos)


def run_task(name, range_rate, folds):
    import keras
    from sklearn.model_selection import StratifiedKFold

    import transfer_keras as tk

    task = fine_tuning.TASKS[name]()
    (x_train, y_train), (x_val, y_val), _ = task["by_seed"](0)
    images, labels = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(labels, labels)
    runs = []
    for fold, (train, held_out) in enumerate(splits):
        tk.set_seed(fold)
        train_ds = tk.prepare((images[train], labels[train]), batch_size=32, shuffle=True,
                              seed=fold)
        held_ds = tk.prepare((images[held_out], labels[held_out]), batch_size=64)
        size = fine_tuning.IMAGE_SIZE
        model = tk.build_classifier("efficientnet_lite0", task["classes"], input_shape=(size, size, 3))
        tk.train_head(model, train_ds, held_ds, patience=5, verbose=0)
        head_weights = model.get_weights()
        loss, accuracy = model.evaluate(held_ds, verbose=0)
        runs.append({"task": name, "fold": fold, "method": "frozen",
                     "loss": round(float(loss), 4), "accuracy": round(float(accuracy), 4)})
        print(json.dumps(runs[-1]), flush=True)
        for method, recipe in fine_tuning.CANDIDATES.items():
            tk.set_seed(fold)
            model.set_weights(head_weights)
            arguments = fine_tuning.recipe_arguments(model, recipe, range_rate)
            history = tk.fine_tune(model, train_ds, held_ds, patience=fine_tuning.PATIENCE,
                                   verbose=0, **arguments)
            if not min(history.history["val_loss"]) < loss:
                model.set_weights(head_weights)  # as train_two_stage: keep the better stage
            held_loss, held_accuracy = model.evaluate(held_ds, verbose=0)
            runs.append({"task": name, "fold": fold, "method": method,
                         "loss": round(float(held_loss), 4),
                         "accuracy": round(float(held_accuracy), 4)})
            print(json.dumps(runs[-1]), flush=True)
        keras.backend.clear_session()
    return runs


def choose(runs):
    """Per task, each recipe's mean held-out loss over frozen's; the lowest mean ratio."""
    methods = ["frozen", *fine_tuning.CANDIDATES]
    tasks = sorted({run["task"] for run in runs})
    mean = {(task, method): float(np.mean([run["loss"] for run in runs
                                            if run["task"] == task and run["method"] == method]))
            for task in tasks for method in methods}
    ratio = {method: float(np.mean([mean[(task, method)] / mean[(task, "frozen")]
                                    for task in tasks])) for method in methods}
    return min(methods, key=ratio.get), ratio, mean


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--tasks", nargs="+", default=list(fine_tuning.TASKS))
    parser.add_argument("--out", type=Path, default=HERE / "choose_fine_tuning.json")
    args = parser.parse_args()
    measured = json.loads((HERE / "fine_tuning.json").read_text())["range_test_rates"]
    began = time.perf_counter()
    runs = []
    for task in args.tasks:
        runs += run_task(task, measured[task], args.folds)
    chosen, ratio, mean = choose(runs)
    print("\n| recipe | " + " | ".join(f"{task} CV loss" for task in args.tasks)
          + " | mean loss / frozen's |\n|---|" + "---|" * (len(args.tasks) + 1))
    for method, value in sorted(ratio.items(), key=lambda item: item[1]):
        print(f"| {method} | " + " | ".join(f"{mean[(task, method)]:.4f}" for task in args.tasks)
              + f" | {value:.3f} |")
    load = os.getloadavg()[0]
    print(f"\nChosen: {chosen}. {time.perf_counter() - began:.0f} s, load average {load:.1f}.")
    args.out.write_text(json.dumps({
        "folds": args.folds, "range_test_rates": measured, "chosen": chosen,
        "loss_over_frozen": {k: round(v, 4) for k, v in ratio.items()},
        "cv_loss": {f"{task}/{method}": round(v, 4) for (task, method), v in mean.items()},
        "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
