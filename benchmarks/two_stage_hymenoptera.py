"""Accuracy of the two-stage recipe on real photos with genuine ImageNet weights.

Ants/bees (../shared/data/hymenoptera_data: 245 train, 153 val photos),
MobileNet alpha 0.25 with its ImageNet weights (../shared/weights) at 224 px:
stage 1 (frozen backbone, new head, cached features), then stage 2
(fine-tune the top of the backbone, BatchNorm frozen). Reference: a
logistic-regression probe on the same pooled features, computed here too.

    .venv/bin/python benchmarks/two_stage_hymenoptera.py [--seeds 0 1 2]
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
SHARED_PHOTOS = SHARED / "data" / "hymenoptera_data"
if not (SHARED_WEIGHTS.is_file() and SHARED_PHOTOS.is_dir()):
    sys.exit(f"needs {SHARED_WEIGHTS} and {SHARED_PHOTOS}")
if "KERAS_HOME" not in os.environ:
    home = Path(tempfile.mkdtemp(prefix="keras_home_"))
    (home / "models").mkdir()
    shutil.copy(SHARED_WEIGHTS, home / "models" / SHARED_WEIGHTS.name)
    os.environ["KERAS_HOME"] = str(home)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import transfer_keras as tk  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    args = parser.parse_args()
    print("| seed | probe (logistic regression) | after stage 1 | after stage 2 |")
    print("|---|---|---|---|")
    rows = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        data = tk.load_image_folder(SHARED_PHOTOS, 224, batch_size=32, seed=seed)
        model = tk.build_classifier("mobilenet", 2, (224, 224, 3), weights="imagenet",
                                    alpha=0.25)
        train_features = tk.extract_features(model, data.train_ds)
        val_features = tk.extract_features(model, data.val_ds)
        probe = LogisticRegression(max_iter=5000).fit(*train_features)
        probe_accuracy = probe.score(*val_features)
        tk.train_head(model, data.train_ds, data.val_ds, epochs=args.head_epochs,
                      verbose=0)
        stage1 = model.evaluate(data.val_ds, verbose=0)[1]
        tk.fine_tune(model, data.train_ds, data.val_ds, epochs=args.fine_tune_epochs,
                     verbose=0)
        stage2 = model.evaluate(data.val_ds, verbose=0)[1]
        rows.append((probe_accuracy, stage1, stage2))
        print(f"| {seed} | {probe_accuracy:.3f} | {stage1:.3f} | {stage2:.3f} |", flush=True)
    means = np.mean(rows, axis=0)
    print(f"| mean | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} |")


if __name__ == "__main__":
    main()
