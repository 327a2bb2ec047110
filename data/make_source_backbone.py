"""Reproduces data/fashion_mnist_source/mobilenet_025_fmnist_0-4.weights.h5.

The project's own source backbone: MobileNet (alpha 0.25) trained from scratch
on the Fashion-MNIST SOURCE task (classes 0-4: T-shirt/top, Trouser, Pullover,
Dress, Coat) at 32x32 px. The target task used across the course is classes
5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot).

Run from the repository root (about 4 minutes on 2 CPU cores):

    python data/make_source_backbone.py
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import transfer_keras as tk  # noqa: E402

OUT = Path(__file__).resolve().parent / "fashion_mnist_source"
NAME = "mobilenet_025_fmnist_0-4.weights.h5"
SOURCE_CLASSES = [0, 1, 2, 3, 4]
IMAGE_SIZE = 32
SEED = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=OUT / NAME)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(SEED)
    fmnist = tk.load_fashion_mnist()
    target_classes = [c for c in range(10) if c not in SOURCE_CLASSES]
    train, _ = tk.split_classes(fmnist.train_images, fmnist.train_labels, SOURCE_CLASSES,
                                target_classes, class_names=fmnist.class_names)
    test, _ = tk.split_classes(fmnist.test_images, fmnist.test_labels, SOURCE_CLASSES,
                               target_classes, class_names=fmnist.class_names)
    # 5,000 of the 30,000 source training images validate (early stopping);
    # the 5,000 source test images are used once, for the final figure.
    order = np.random.default_rng(SEED).permutation(len(train.labels))
    val_index, train_index = order[:5000], order[5000:]
    train_ds = tk.prepare((train.images[train_index], train.labels[train_index]),
                          image_size=IMAGE_SIZE, batch_size=128, shuffle=True, seed=SEED)
    val_ds = tk.prepare((train.images[val_index], train.labels[val_index]), image_size=IMAGE_SIZE,
                        batch_size=256)
    test_ds = tk.prepare((test.images, test.labels), image_size=IMAGE_SIZE, batch_size=256)
    model, history = tk.pretrain_source(
        "mobilenet", train_ds, val_ds, num_classes=len(SOURCE_CLASSES),
        epochs=args.epochs, save_path=args.out, alpha=0.25,
        metadata={
            "source_task": "Fashion-MNIST classes 0-4 " + ", ".join(train.class_names),
            "source_classes": SOURCE_CLASSES,
            "source_train_images": int(len(train_index)),
            "source_val_images": int(len(val_index)),
            "image_size": IMAGE_SIZE,
            "seed": SEED,
            "fashion_mnist_from": fmnist.source,
            "command": "python data/make_source_backbone.py",
        },
    )
    accuracy = float(model.evaluate(test_ds, verbose=0)[1])
    record_path = args.out.with_name(args.out.name.replace(".weights.h5", ".json"))
    record = json.loads(record_path.read_text())
    record["source_test_accuracy"] = round(accuracy, 4)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"epochs run: {len(history.epoch)}; source test accuracy (classes 0-4, "
          f"5,000 test images): {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
