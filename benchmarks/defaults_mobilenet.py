"""Does EfficientNet-Lite0's fine-tuning rate suit MobileNet-0.25 too? 5 seeds, both rates.

`fine_tuning.py` chose the stage-2 rate 9.25e-5 on EfficientNet-Lite0.
Notebooks 04, 06 and 07 train MobileNet alpha 0.25 at 128 px with
`train_two_stage`'s defaults, whose rate was 3e-5, so this measures both rates
there, on the kit's photos (183 train, 61 val for every choice, 153 test,
scored once per run):

- `majority`, `pixels_logistic` (32x32 pixels, `C` chosen on val), `probe`
  (logistic regression on the frozen backbone's pooled features);
- `scratch`: `baselines.build_small_cnn`, learning rate 3e-3 (chosen on val by
  `showcase.py`), up to 110 epochs, early stopping (patience 5);
- `frozen`: stage 1 of `train_two_stage` (`after_head` scores it);
- `at_3e-5`: `train_two_stage(model, train_ds, val_ds,
  fine_tune_learning_rate=3e-5)`: the defaults with the general rate;
- `at_9.25e-5`: the same at EfficientNet-Lite0's rate;
- `at_3e-5_20_epochs`: `at_3e-5` with up to 20 fine-tuning epochs instead of
  10 (stage 2 at 3e-5 often runs into its 10-epoch cap, e.g. in notebook 06).

It scored `at_9.25e-5` below `at_3e-5` and `frozen`, so MobileNet keeps 3e-5
(`BackboneSpec.fine_tune_learning_rate` is set for EfficientNet-Lite0 only).

Stage 1 is the same for all three (same seed, deterministic ops). Writes
benchmarks/defaults_mobilenet.json. From the repository root (about 5 minutes
on 2 cores):

    .venv/bin/python benchmarks/defaults_mobilenet.py [--seeds 0 1 2 3 4]
"""

import argparse
import json
import os
import time
from pathlib import Path

import _runs

HERE = Path(__file__).resolve().parent
IMAGE_SIZE = 128
RATES = {"at_3e-5": 3e-5, "at_9.25e-5": 9.25e-5}
# and notebook 06's question: does stage 2 at 3e-5 gain from twice the epoch budget?
LONGER = {"at_3e-5_20_epochs": 3e-5}
METHODS = ("majority", "pixels_logistic", "scratch", "probe", "frozen", *RATES, *LONGER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=HERE / "defaults_mobilenet.json")
    args = parser.parse_args()

    import keras

    import transfer_keras as tk
    from transfer_keras import baselines

    began = time.perf_counter()
    epochs = tk.stages.DEFAULT_FINE_TUNE_EPOCHS  # 10
    train, val, test, val_ds, test_ds = _runs.kit_splits(tk, IMAGE_SIZE)

    def build():
        return _runs.kit_classifier(tk, IMAGE_SIZE)

    runs = []
    record = _runs.recorder(runs)

    fixed = _runs.kit_baselines(tk, train, val, test, IMAGE_SIZE)
    for seed in args.seeds:
        for method, accuracy in fixed.items():
            record(seed, method, accuracy)  # no random part: the same for every seed
        tk.set_seed(seed)
        cnn = baselines.build_small_cnn(2, (IMAGE_SIZE, IMAGE_SIZE, 3))
        tk.train_from_scratch(cnn, tk.prepare(train, batch_size=32, shuffle=True, seed=seed),
                              val_ds, epochs=110, learning_rate=3e-3, patience=5, verbose=0)
        record(seed, "scratch", cnn.evaluate(test_ds, verbose=0)[1])
        for method, rate in [*RATES.items(), *LONGER.items()]:
            model, history, frozen, seconds = _runs.seeded_two_stage(
                tk, build, train, val_ds, test_ds, seed, fine_tune_learning_rate=rate,
                fine_tune_epochs=epochs * (2 if method in LONGER else 1))
            if method == "at_9.25e-5":
                record(seed, "frozen", frozen)
            record(seed, method, model.evaluate(test_ds, verbose=0)[1],
                   kept=history.kept_stage, seconds=round(seconds, 1),
                   fine_tune_epochs=len(history.epoch) - history.fine_tune_epoch)
        keras.backend.clear_session()

    rows = _runs.summary_rows(runs, METHODS, ddof=1)  # ddof=1: as published in its JSON
    paired = _runs.paired_differences(
        runs, (("at_9.25e-5", "frozen"), ("at_9.25e-5", "at_3e-5"), ("at_9.25e-5", "probe"),
               ("at_3e-5_20_epochs", "at_3e-5")), args.seeds)
    print("\n| method | test accuracy | std |\n|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['mean']:.3f} | {row['std']:.3f} |")
    print("\nPer seed:", json.dumps(paired))
    load = os.getloadavg()[0]
    seconds = time.perf_counter() - began
    print(f"{seconds:.0f} s, load average {load:.1f}.")
    args.out.write_text(json.dumps({
        "image_size": IMAGE_SIZE, "backbone": "mobilenet alpha 0.25 (ImageNet, the kit's)",
        "rates": RATES, "longer": LONGER, "seeds": args.seeds, "rows": rows, "paired": paired,
        "seconds": round(seconds), "load_average": round(load, 1), "runs": runs},
        indent=1) + "\n")


if __name__ == "__main__":
    main()
