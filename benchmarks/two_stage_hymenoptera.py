"""Accuracy of the two-stage recipe on real photos with genuine ImageNet weights.

Ants/bees (../shared/data/hymenoptera_data: 245 train, 153 val photos),
MobileNet alpha 0.25 with its ImageNet weights (../shared/weights) at 224 px:
stage 1 (frozen backbone, new head, cached features), then stage 2
(fine-tune the backbone, BatchNorm frozen), early stopping on the validation
loss with the best weights restored. Recipes (see RECIPES): library defaults
(top 30% of the backbone at 1e-4); with `build_augmentation()` inside the model
(which turns feature caching off); with the augmentation given to stage 2 only
(`fine_tune(..., augment=...)`, stage 1 stays cached); and the "whole backbone"
variants, which train the head longer with more dropout and then fine-tune the
whole backbone at a low learning rate (3e-5).
Reference: a logistic-regression probe on the same pooled features, computed
here too on the same split.

    .venv/bin/python benchmarks/two_stage_hymenoptera.py [--seeds 0 1 2] [--recipes ...]
"""

import argparse
import time

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import transfer_keras as tk  # noqa: E402


# name -> settings; a missing setting means the library default.
# augment: None, "model" (a layer inside the model) or "stage 2" (fine_tune(augment=)).
RECIPES = {
    "two-stage": dict(),
    "two-stage + augmentation layer": dict(augment="model"),
    "two-stage + stage-2 augmentation": dict(augment="stage 2", fine_tune_epochs=20),
    "whole backbone": dict(dropout=0.5, head_epochs=40, fraction=1.0,
                           fine_tune_learning_rate=3e-5),
    "whole backbone + stage-2 augmentation": dict(
        dropout=0.5, head_epochs=40, fraction=1.0, fine_tune_learning_rate=3e-5,
        augment="stage 2", fine_tune_epochs=20),
}


def run(seed, recipe, head_epochs, fine_tune_epochs):
    settings = RECIPES[recipe]
    augment = settings.get("augment")
    keras.utils.set_random_seed(seed)
    data = tk.kit.load_example_photos(image_size=224, batch_size=32, seed=seed)
    plain = tk.build_classifier("mobilenet", 2, input_shape=(224, 224, 3), weights="imagenet",
                                alpha=0.25)
    probe = LogisticRegression(max_iter=5000).fit(*tk.extract_features(plain, data.train_ds))
    probe_accuracy = probe.score(*tk.extract_features(plain, data.val_ds))
    model = tk.build_classifier(
        "mobilenet", 2, input_shape=(224, 224, 3), weights="imagenet", alpha=0.25,
        augmentation=tk.build_augmentation(seed=seed) if augment == "model" else None,
        dropout=settings.get("dropout", 0.2))
    tk.train_head(model, data.train_ds, data.val_ds,
                  epochs=settings.get("head_epochs", head_epochs), verbose=0)
    stage1 = model.evaluate(data.val_ds, verbose=0)[1]
    tk.fine_tune(model, data.train_ds, data.val_ds,
                 epochs=settings.get("fine_tune_epochs", fine_tune_epochs),
                 fraction=settings.get("fraction"),
                 learning_rate=settings.get("fine_tune_learning_rate"),
                 augment=tk.build_augmentation(seed=seed) if augment == "stage 2" else None,
                 verbose=0)
    stage2 = model.evaluate(data.val_ds, verbose=0)[1]
    return probe_accuracy, stage1, stage2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--head-epochs", type=int, default=15)
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args()
    print("| recipe | seed | probe (logistic regression) | after stage 1 | after stage 2 "
          "| seconds |")
    print("|---|---|---|---|---|---|")
    for name in args.recipes:
        rows = []
        for seed in args.seeds:
            start = time.perf_counter()
            rows.append(run(seed, name, args.head_epochs, args.fine_tune_epochs))
            print(f"| {name} | {seed} | " + " | ".join(f"{v:.3f}" for v in rows[-1])
                  + f" | {time.perf_counter() - start:.0f} |", flush=True)
        print(f"| {name} | mean | " + " | ".join(f"{v:.3f}" for v in np.mean(rows, 0))
              + " | |", flush=True)


if __name__ == "__main__":
    main()
