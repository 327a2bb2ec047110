"""How much the cached frozen prefix saves in stage 2: seconds per fine-tuning epoch with
`feature_cache="auto"` (the frozen bottom runs once) and `None` (it runs every epoch),
measured side by side on the kit's 183 training photos, EfficientNet-Lite0 at 224 px.

For each unfrozen depth it times `fine_tune` for `--epochs` epochs both ways
(patience off, so every epoch runs), alternating which goes first, and prints
the time per epoch after the first (tracing and, for the cache, filling it)
plus that first part, and the ratio. From the repository root (about 6 minutes
on 2 cores):

    .venv/bin/python benchmarks/bench_prefix_cache.py [--epochs 4] [--repeats 2]
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import keras

import transfer_keras as tk

HERE = Path(__file__).resolve().parent
DEPTHS = ("block5a_expand_conv", "block7a_expand_conv")


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.starts, self.ends = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


def one(photos, from_layer, cache_prefix, epochs):
    tk.set_seed(0)
    model = tk.build_classifier("efficientnet_lite0", 2, input_shape=(224, 224, 3))
    tk.freeze_backbone(model)
    train_ds = tk.prepare(photos["train"], batch_size=32, shuffle=True, seed=0)
    val_ds = tk.prepare(photos["val"], batch_size=64)
    timer = EpochTimes()
    began = time.perf_counter()
    tk.fine_tune(model, train_ds, val_ds, epochs=epochs, from_layer=from_layer, patience=0,
                 learning_rate=3e-4, callbacks=[timer], feature_cache=cache_prefix or None,
                 verbose=0)  # (the runs keep their old key: "auto" or False)
    total = time.perf_counter() - began
    later = [end - start for start, end in zip(timer.starts[1:], timer.ends[1:])]
    return {"from_layer": from_layer, "cache_prefix": cache_prefix,
            "seconds_per_epoch": round(sum(later) / len(later), 2),
            "first_part_seconds": round(total - sum(later), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "prefix_cache.json")
    args = parser.parse_args()
    report = tk.kit.load_example_photos(image_size=224, shuffle=False).report
    photos = {"train": (report.train_images, report.train_labels),
              "val": (report.val_images, report.val_labels)}
    runs = []
    for repeat in range(args.repeats):
        for from_layer in DEPTHS:
            order = ("auto", False) if repeat % 2 == 0 else (False, "auto")
            for cache_prefix in order:
                runs.append(one(photos, from_layer, cache_prefix, args.epochs))
                print(json.dumps(runs[-1]), flush=True)
    print("\n| unfrozen from | cached s/epoch | full s/epoch | ratio | cached first part s |")
    print("|---|---|---|---|---|")
    for from_layer in DEPTHS:
        def median(key, cache):
            return round(statistics.median(
                r[key] for r in runs
                if r["from_layer"] == from_layer and r["cache_prefix"] == cache), 2)
        cached, full = median("seconds_per_epoch", "auto"), median("seconds_per_epoch", False)
        print(f"| {from_layer} | {cached} | {full} | {full / cached:.1f}x | "
              f"{median('first_part_seconds', 'auto')} |")
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    args.out.write_text(json.dumps({"runs": runs, "load_average": os.getloadavg()[0]},
                                   indent=1) + "\n")


if __name__ == "__main__":
    main()
