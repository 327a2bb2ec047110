"""Does augmentation help MobileNet-0.25 on the kit's photos? 5 seeds, with and without.

Notebook 06 reads the answer. The kit's ants/bees photos at 128 px (183 train,
61 val for every choice, 153 test, scored once per run), ImageNet MobileNet
alpha 0.25 (the kit's weights), `train_two_stage` with its defaults; only
`augment=` changes (stage 2 only: stage 1 trains the head on cached features
of the original photos, so it is the same in every variant of a seed):

- `none`: `augment=None`;
- `default`: `augment=build_augmentation(seed=seed)` (flips, rotation 0.05,
  zoom 0.1, contrast 0.1);
- `default_crop`: the same plus random crops, `build_augmentation(seed=seed,
  crop=0.2)` (a window of 80-100% of each side, placed at random);
- `crop_only`: `build_augmentation(flip=False, rotation=0, zoom=0, contrast=0,
  crop=0.2, seed=seed)`;
- `frozen`: stage 1 alone (scored by `after_head` in the `none` run).

Baselines, on the same test photos: `majority`, `pixels_logistic` (32x32
pixels, `C` chosen on val), `probe` (logistic regression on the frozen
ImageNet features), `probe_random` (the same on random weights, one draw per
seed) and `imagenet_head` (EfficientNet-Lite0's own ImageNet head choosing
between its classes "ant" (310) and "bee" (309), no training, at 224 px).

Writes benchmarks/augmentation.json: per-run rows, mean and std per method
(population, ddof=0, as showcase.py), per-seed differences against `none`,
settings, command, seconds, load average. From the repository root (about 10
minutes on 2 quiet cores):

    .venv/bin/python benchmarks/augmentation.py [--seeds 0 1 2 3 4] [--crop 0.2]
"""

import argparse
import json
import os
import time
from pathlib import Path

import _runs

HERE = Path(__file__).resolve().parent
IMAGE_SIZE = 128
ANT_BEE = [310, 309]  # ImageNet-1k: 310 "ant", 309 "bee"


def variants(tk, seed, crop):
    """The `augment=` argument of each variant, built for one seed."""
    return {
        "none": None,
        "default": tk.build_augmentation(seed=seed),
        "default_crop": tk.build_augmentation(seed=seed, crop=crop),
        "crop_only": tk.build_augmentation(flip=False, rotation=0, zoom=0, contrast=0,
                                           crop=crop, seed=seed),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--crop", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=HERE / "augmentation.json")
    args = parser.parse_args()

    import keras

    import transfer_keras as tk
    from transfer_keras import baselines

    began = time.perf_counter()
    load_start = os.getloadavg()
    train, val, test, val_ds, test_ds = _runs.kit_splits(tk, IMAGE_SIZE)

    def build():
        return _runs.kit_classifier(tk, IMAGE_SIZE)

    runs = []
    record = _runs.recorder(runs)

    report_224 = tk.kit.load_example_photos(image_size=224, shuffle=False).report
    fixed = {**_runs.kit_baselines(tk, train, val, test, IMAGE_SIZE),
             "imagenet_head": baselines.imagenet_head(
                 (report_224.test_images, report_224.test_labels), ANT_BEE).accuracy}
    del report_224
    methods = [*fixed, "probe_random", "frozen", "none", "default", "default_crop", "crop_only"]
    for seed in args.seeds:
        for method, accuracy in fixed.items():
            record(seed, method, accuracy)  # no random part: the same for every seed
        tk.set_seed(seed)
        random_model = tk.build_classifier(tk.kit.EXAMPLE_BACKBONE, 2,
                                           input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), weights=None,
                                           **tk.kit.EXAMPLE_BACKBONE_KWARGS)
        record(seed, "probe_random",
               baselines.linear_probe(random_model, train, val, test).accuracy)
        for method, augment in variants(tk, seed, args.crop).items():
            model, history, frozen, seconds = _runs.seeded_two_stage(
                tk, build, train, val_ds, test_ds, seed, augment=augment)
            if method == "none":
                record(seed, "frozen", frozen)
            record(seed, method, model.evaluate(test_ds, verbose=0)[1],
                   val_accuracy=round(float(model.evaluate(val_ds, verbose=0)[1]), 4),
                   kept=history.kept_stage, seconds=round(seconds, 1),
                   fine_tune_epochs=len(history.epoch) - history.fine_tune_epoch)
        keras.backend.clear_session()

    rows = _runs.summary_rows(runs, methods)
    paired = _runs.paired_differences(
        runs, [(variant, "none") for variant in ("default", "default_crop", "crop_only", "frozen")],
        args.seeds)
    print("\n| method | test accuracy | std |\n|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['mean']:.3f} | {row['std']:.3f} |")
    print("\nPer seed, against no augmentation:")
    for name, values in paired.items():
        print(f"  {name}: " + " ".join(f"{value:+.3f}" for value in values))
    load_end = os.getloadavg()
    seconds = time.perf_counter() - began
    print(f"{seconds:.0f} s, load average {load_start[0]:.1f} at the start, "
          f"{load_end[0]:.1f} at the end.")
    command = ("benchmarks/augmentation.py --seeds " + " ".join(map(str, args.seeds))
               + f" --crop {args.crop:g}")
    args.out.write_text(json.dumps({
        "question": __doc__.splitlines()[0],
        "settings": {"image_size": IMAGE_SIZE,
                     "backbone": "mobilenet alpha 0.25 (ImageNet, the kit's weights)",
                     "recipe": "train_two_stage defaults, augment= for stage 2 only",
                     "crop": args.crop, "imagenet_classes": ANT_BEE,
                     "imagenet_head": "EfficientNet-Lite0 at 224 px, no training",
                     "std": "std over seeds, ddof=0 (as showcase.py)",
                     "photos": {"train": len(train[1]), "val": len(val[1]),
                                "test": len(test[1])}},
        "seeds": args.seeds, "rows": rows, "paired": paired, "command": command,
        "seconds": round(seconds),
        "load_average": {"start": [round(x, 2) for x in load_start],
                         "end": [round(x, 2) for x in load_end]},
        "keras": keras.__version__, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
