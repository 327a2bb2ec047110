"""Chooses the showcase's stage-2 recipe by cross-validation on train/ + val/, never test/.

The kit's val/ has 61 photos: its validation loss moves by about 0.015 from
seed to seed, more than it differs between candidate recipes, so choosing on
it alone is close to a coin toss. Here every candidate is trained on 3/4 of
the kit's 244 train + val photos and scored on the other quarter (which also
drives its early stopping, as val/ does in the demo), four times, with the
same folds and seeds for every candidate: four times as many photos decide.
The test photos are not loaded.

Candidates: stage 1 only ("frozen"), and stage 2 from the start of stage 5,
6 or 7 of EfficientNet-Lite0 or its head convolution alone, at learning rates
1e-4 and 3e-4; image size 224 (the backbone's ImageNet size).

Writes benchmarks/choose_recipe.json. From the repository root (about 12
minutes on 2 cores):

    .venv/bin/python benchmarks/choose_recipe.py [--folds 4] [--workers 2]
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
IMAGE_SIZE = 224
CANDIDATES = [{"name": "frozen", "fine_tune_epochs": 0}] + [
    {"name": f"{start} @ {rate:g}", "from_layer": start, "fine_tune_learning_rate": rate,
     "fine_tune_epochs": 20}
    for start in ("block5a_expand_conv", "block6a_expand_conv", "block7a_expand_conv",
                  "top_conv")
    for rate in (1e-4, 3e-4)]


def _photos():
    import transfer_keras as tk

    report = tk.kit.load_example_photos(image_size=IMAGE_SIZE, shuffle=False).report
    images = np.concatenate([report.train_images, report.val_images])
    labels = np.concatenate([report.train_labels, report.val_labels])
    return images, labels


def _run(job):
    """One candidate on one fold (in a worker process)."""
    import transfer_keras as tk

    images, labels = _photos()
    train, held_out = job["train"], job["held_out"]
    recipe = {k: v for k, v in job["candidate"].items() if k != "name"}
    tk.set_seed(job["fold"])
    train_ds = tk.prepare((images[train], labels[train]), batch_size=32, shuffle=True,
                          seed=job["fold"])
    held_ds = tk.prepare((images[held_out], labels[held_out]), batch_size=64)
    model = tk.build_classifier("efficientnet_lite0", 2, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    began = time.perf_counter()
    history = tk.train_two_stage(model, train_ds, held_ds, verbose=0, **recipe)
    loss, accuracy = model.evaluate(held_ds, verbose=0)
    return {"candidate": job["candidate"]["name"], "fold": job["fold"],
            "accuracy": round(float(accuracy), 4), "loss": round(float(loss), 4),
            "kept_stage": history.kept_stage,
            "seconds": round(time.perf_counter() - began, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 2))
    parser.add_argument("--out", type=Path, default=HERE / "choose_recipe.json")
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold

    _, labels = _photos()
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(labels, labels)
    jobs = [{"candidate": candidate, "fold": fold, "train": train.tolist(),
             "held_out": held_out.tolist()}
            for fold, (train, held_out) in enumerate(folds) for candidate in CANDIDATES]
    began = time.perf_counter()
    runs = []
    with concurrent.futures.ProcessPoolExecutor(
            args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for run in pool.map(_run, jobs):
            runs.append(run)
            print(json.dumps(run), flush=True)
    rows = []
    for candidate in CANDIDATES:
        mine = [r for r in runs if r["candidate"] == candidate["name"]]
        rows.append({"candidate": candidate["name"],
                     "accuracy": round(float(np.mean([r["accuracy"] for r in mine])), 4),
                     "accuracy_std": round(float(np.std([r["accuracy"] for r in mine])), 4),
                     "loss": round(float(np.mean([r["loss"] for r in mine])), 4),
                     "seconds": round(float(np.mean([r["seconds"] for r in mine])), 1)})
    best = min(rows, key=lambda row: row["loss"])
    print("\n| candidate | CV accuracy | std | CV loss | seconds per run |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['candidate']} | {row['accuracy']:.4f} | {row['accuracy_std']:.4f} | "
              f"{row['loss']:.4f} | {row['seconds']} |")
    print(f"\nLowest cross-validated loss: {best['candidate']}. "
          f"{time.perf_counter() - began:.0f} s, load average {os.getloadavg()[0]:.1f}.")
    args.out.write_text(json.dumps({"image_size": IMAGE_SIZE, "folds": args.folds,
                                    "rows": rows, "chosen": best["candidate"],
                                    "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
