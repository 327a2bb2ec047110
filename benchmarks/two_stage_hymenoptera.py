"""Accuracy of the two-stage recipe on real photos with genuine ImageNet weights.

Ants/bees (../shared/data/hymenoptera_data: 245 train, 153 val photos),
MobileNet alpha 0.25 with its ImageNet weights (../shared/weights) at 224 px:
stage 1 (frozen backbone, new head, cached features), then stage 2
(fine-tune the top 30% of the backbone, BatchNorm frozen), library defaults
(early stopping on the validation loss, best weights restored), without and
with `build_augmentation()` (augmentation turns feature caching off), and a
variant that trains the head longer with more dropout and then fine-tunes the
whole backbone at a low learning rate (3e-5).
Reference: a logistic-regression probe on the same pooled features, computed
here too on the same split.

    .venv/bin/python benchmarks/two_stage_hymenoptera.py [--seeds 0 1 2]
"""

import argparse
import sys

from _offline import SHARED_PHOTOS, SHARED_WEIGHTS, have_shared, seed_keras_home

if not have_shared():
    sys.exit(f"needs {SHARED_WEIGHTS} and {SHARED_PHOTOS}")
seed_keras_home()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import transfer_keras as tk  # noqa: E402


# name -> (augmentation, head dropout, head epochs, fine-tune fraction, fine-tune lr);
# None means the library default.
RECIPES = {
    "two-stage": (False, None, None, None, None),
    "two-stage + augmentation": (True, None, None, None, None),
    "two-stage, whole backbone": (False, 0.5, 40, 1.0, 3e-5),
}


def run(seed, recipe, head_epochs, fine_tune_epochs):
    augment, dropout, recipe_head_epochs, fraction, learning_rate = RECIPES[recipe]
    keras.utils.set_random_seed(seed)
    data = tk.load_image_folder(SHARED_PHOTOS, 224, batch_size=32, seed=seed)
    plain = tk.build_classifier("mobilenet", 2, (224, 224, 3), weights="imagenet",
                                alpha=0.25)
    probe = LogisticRegression(max_iter=5000).fit(*tk.extract_features(plain, data.train_ds))
    probe_accuracy = probe.score(*tk.extract_features(plain, data.val_ds))
    augmentation = tk.build_augmentation(seed=seed) if augment else None
    model = tk.build_classifier("mobilenet", 2, (224, 224, 3), weights="imagenet",
                                alpha=0.25, augmentation=augmentation,
                                dropout=0.2 if dropout is None else dropout)
    tk.train_head(model, data.train_ds, data.val_ds,
                  epochs=recipe_head_epochs or head_epochs, verbose=0)
    stage1 = model.evaluate(data.val_ds, verbose=0)[1]
    tk.fine_tune(model, data.train_ds, data.val_ds, epochs=fine_tune_epochs,
                 fraction=fraction, learning_rate=learning_rate, verbose=0)
    stage2 = model.evaluate(data.val_ds, verbose=0)[1]
    return probe_accuracy, stage1, stage2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--head-epochs", type=int, default=15)
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args()
    print("| recipe | seed | probe (logistic regression) | after stage 1 | after stage 2 |")
    print("|---|---|---|---|---|")
    for name in args.recipes:
        rows = []
        for seed in args.seeds:
            rows.append(run(seed, name, args.head_epochs, args.fine_tune_epochs))
            print(f"| {name} | {seed} | " + " | ".join(f"{v:.3f}" for v in rows[-1])
                  + " |", flush=True)
        print(f"| {name} | mean | " + " | ".join(f"{v:.3f}" for v in np.mean(rows, 0))
              + " |", flush=True)


if __name__ == "__main__":
    main()
