"""Which backbone for the kit's photos? EfficientNet-Lite0 against MobileNet-0.25, two sizes.

Notebook 05 (part B) reads the JSON this writes. On the kit's ants/bees photos
(183 train, 61 val for every choice, 153 test, scored once per run), for each
backbone (ImageNet weights, offline) at 128 and 224 px:

- `probe`: logistic regression on the frozen backbone's pooled features
  (`C` chosen on val), deterministic;
- `head`: the frozen backbone with a new softmax head trained by
  `tk.train_head` on cached features (early stopping on val, patience 5),
  one run per seed (the seed sets the head's initial weights, dropout and the
  shuffling);
- `images_per_s`: inference speed after a warm-up call; one reading times
  `--repeat` calls of `predict_on_batch` on the same 32 test photos. The four
  models are read in turn, round after round, so each round compares them
  under the same load; the JSON keeps every reading and the per-round ratios,
  and the summary uses medians. `--speed-only` re-measures only the speed and
  keeps the accuracies already in the JSON (they are deterministic).

Next to them: `majority`, `pixels_logistic` (32x32 pixels, `C` on val) and
EfficientNet-Lite0's own ImageNet head choosing between "ant" and "bee"
(`baselines.imagenet_head`, 224 px, no training on the task).

Writes benchmarks/backbones_photos.json. From the repository root (about
6 minutes on 2 cores, alone):

    .venv/bin/python benchmarks/backbones_photos.py [--seeds 0 1 2 3 4] [--rounds 9] [--repeat 3]
    .venv/bin/python benchmarks/backbones_photos.py --speed-only
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (128, 224)
BACKBONES = {  # name -> (backbone, weights, extra arguments); "kit": the kit's weights file
    "efficientnet_lite0": ("efficientnet_lite0", "imagenet", {}),
    "mobilenet_025": ("mobilenet", "kit", {"alpha": 0.25}),
}
ANT, BEE = 310, 309  # ImageNet-1k classes
SPEED_BATCH = 32


def build(tk, name, size):
    backbone, weights, kwargs = BACKBONES[name]
    weights = tk.kit.example_weights() if weights == "kit" else weights
    return tk.build_classifier(backbone, 2, input_shape=(size, size, 3), weights=weights,
                               **kwargs)


def split(report):
    return ((report.train_images, report.train_labels), (report.val_images, report.val_labels),
            (report.test_images, report.test_labels))


def accuracy_runs(tk, photos, seeds):
    """Baselines, then probe and seeded heads per backbone and size: runs, parameter counts."""
    import keras

    from transfer_keras import baselines

    runs, params = [], {}

    def record(method, accuracy, **extra):
        runs.append({"method": method, "accuracy": round(float(accuracy), 4), **extra})
        print(json.dumps(runs[-1]), flush=True)

    train, val, test = split(photos[SIZES[0]])
    record("majority", baselines.majority_baseline(train[1], test[1]).accuracy)
    record("pixels_logistic", baselines.pixels_logistic(train, val, test).accuracy)
    big = photos[224]
    record("imagenet_head", baselines.imagenet_head((big.test_images, big.test_labels),
                                                    [ANT, BEE]).accuracy,
           backbone="efficientnet_lite0", image_size=224)
    for name in BACKBONES:
        for size in SIZES:
            train, val, test = split(photos[size])
            val_ds, test_ds = tk.prepare(val, batch_size=64), tk.prepare(test, batch_size=64)
            model = build(tk, name, size)
            params[name] = model.get_layer("backbone").count_params()
            start = time.perf_counter()
            features = [tk.extract_features(model, tk.prepare(part, batch_size=64))
                        for part in (train, val, test)]
            seconds = time.perf_counter() - start
            record("probe", baselines.logistic_regression(*features).accuracy, backbone=name,
                   image_size=size, feature_seconds=round(seconds, 1),
                   feature_width=int(features[0][0].shape[1]))
            for seed in seeds:
                tk.set_seed(seed)
                model = build(tk, name, size)
                start = time.perf_counter()
                history = tk.train_head(
                    model, tk.prepare(train, batch_size=32, shuffle=True, seed=seed), val_ds,
                    verbose=0)
                seconds = time.perf_counter() - start
                record("head", tk.evaluate_classifier(model, test_ds).accuracy, backbone=name,
                       image_size=size, seed=seed, seconds=round(seconds, 1),
                       epochs=len(history.history["loss"]))
            keras.backend.clear_session()
    return runs, params


def summary_rows(runs):
    rows = []
    for method in ("majority", "pixels_logistic", "imagenet_head"):
        run = next(r for r in runs if r["method"] == method)
        rows.append({"method": method, "backbone": run.get("backbone"),
                     "image_size": run.get("image_size"), "mean": run["accuracy"], "std": 0.0,
                     "seeds": 1})
    for name in BACKBONES:
        for size in SIZES:
            for method in ("probe", "head"):
                values = np.array([r["accuracy"] for r in runs if r["method"] == method
                                   and r.get("backbone") == name and r.get("image_size") == size])
                rows.append({"method": method, "backbone": name, "image_size": size,
                             "mean": round(float(values.mean()), 4),
                             "std": round(float(values.std()), 4),
                             "seeds": len(values)})
    return rows


def speed_rounds(tk, tf, photos, rounds, repeat):
    """The four models read in turn, round after round: readings and per-round ratios."""
    models, batches = {}, {}
    for name in BACKBONES:
        for size in SIZES:
            key = f"{name}@{size}"
            models[key] = build(tk, name, size)
            batches[key] = tf.constant(photos[size].test_images[:SPEED_BATCH], dtype="float32")
            models[key].predict_on_batch(batches[key])  # warm-up: traces and compiles
    readings = {key: [] for key in models}
    for _ in range(rounds):
        for key, model in models.items():
            start = time.perf_counter()
            for _ in range(repeat):
                model.predict_on_batch(batches[key])
            readings[key].append(round(repeat * SPEED_BATCH / (time.perf_counter() - start), 1))
    speed = [{"backbone": key.split("@")[0], "image_size": int(key.split("@")[1]),
              "images_per_s": values, "median": float(np.median(values))}
             for key, values in readings.items()]
    pairs = {f"mobilenet_025 / efficientnet_lite0 @{size}":
             (f"mobilenet_025@{size}", f"efficientnet_lite0@{size}") for size in SIZES}
    pairs.update({f"{name} 128 / 224": (f"{name}@128", f"{name}@224") for name in BACKBONES})
    ratios = {label: [round(a / b, 2) for a, b in zip(readings[fast], readings[slow])]
              for label, (fast, slow) in pairs.items()}
    return speed, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds of the four models")
    parser.add_argument("--repeat", type=int, default=3, help="predict calls per reading")
    parser.add_argument("--speed-only", action="store_true",
                        help="re-measure the speed, keep the accuracies of the JSON")
    parser.add_argument("--out", type=Path, default=HERE / "backbones_photos.json")
    args = parser.parse_args()

    import logging

    import keras
    import tensorflow as tf

    import transfer_keras as tk

    logging.getLogger("tensorflow").addFilter(  # the harmless note after many small models
        lambda record: "triggered tf.function retracing" not in record.getMessage())
    photos = {size: tk.kit.load_example_photos(image_size=size, shuffle=False).report
              for size in SIZES}
    if args.speed_only:
        data = json.loads(args.out.read_text())
    else:
        began, load = time.perf_counter(), os.getloadavg()[0]
        runs, params = accuracy_runs(tk, photos, args.seeds)
        data = {
            "data": "ants/bees photos of the example kit (183 train, 61 val, 153 test)",
            "backbones": {name: {"backbone": b, "weights": "ImageNet" if w == "imagenet"
                                 else "ImageNet (the kit's file)", "kwargs": k,
                                 "backbone_params": params[name]}
                          for name, (b, w, k) in BACKBONES.items()},
            "image_sizes": list(SIZES), "seeds": args.seeds, "rows": summary_rows(runs),
            "accuracy_seconds": round(time.perf_counter() - began),
            "accuracy_load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
            "command": "benchmarks/backbones_photos.py --seeds " + " ".join(map(str, args.seeds)),
            "runs": runs}
    began, load = time.perf_counter(), os.getloadavg()[0]
    speed, ratios = speed_rounds(tk, tf, photos, args.rounds, args.repeat)
    data.update({
        "speed_batch": SPEED_BATCH, "speed_rounds": args.rounds, "speed_repeat": args.repeat,
        "speed": speed, "speed_ratios": ratios,
        "speed_seconds": round(time.perf_counter() - began),
        "speed_load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        "speed_command": f"benchmarks/backbones_photos.py --rounds {args.rounds} "
                         f"--repeat {args.repeat}" + (" --speed-only" if args.speed_only else ""),
        "speed_date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, TensorFlow {tf.__version__}, "
                   f"Keras {keras.__version__}"})

    medians = {(row["backbone"], row["image_size"]): row["median"] for row in speed}
    print("\n| method | backbone | size | test accuracy | std | images/s (median) |")
    print("|---|---|---|---|---|---|")
    for row in data["rows"]:
        ips = (f"{medians[(row['backbone'], row['image_size'])]:.0f}"
               if row["method"] in ("probe", "head") else "")
        print(f"| {row['method']} | {row['backbone'] or ''} | {row['image_size'] or ''} | "
              f"{row['mean']:.3f} | {row['std']:.3f} | {ips} |")
    print("\nRatios per round:", json.dumps(ratios))
    print(f"speed: {data['speed_seconds']} s, load average {data['speed_load_average']}")
    args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
