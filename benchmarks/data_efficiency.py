"""The data-efficiency table: transfer vs scratch as labels per class shrink.

Runs `transfer_keras.experiments.data_efficiency` on
- Fashion-MNIST, source classes 0-4 -> target classes 5-9, with the project's
  own source backbone (MobileNet alpha 0.25, 32 px), and
- the ants/bees photos with the genuine ImageNet MobileNet (alpha 0.25, 224 px)
  when ../shared is present.

    .venv/bin/python benchmarks/data_efficiency.py [--budget standard] [--seeds 0 1 2]

Prints the tables as Markdown (paste into benchmarks/README.md) and writes
them as JSON next to this script unless --no-json.
"""

import argparse
import json
import time
from pathlib import Path

import transfer_keras as tk

HERE = Path(__file__).resolve().parent
from transfer_keras import experiments  # noqa: E402


def fashion(args):
    src = tk.project_source_backbone()
    fmnist = tk.load_fashion_mnist()
    _, train = tk.split_classes(fmnist.train_images, fmnist.train_labels, range(5),
                                range(5, 10), class_names=fmnist.class_names)
    _, test = tk.split_classes(fmnist.test_images, fmnist.test_labels, range(5),
                               range(5, 10), class_names=fmnist.class_names)
    return experiments.data_efficiency(
        src.backbone, train.images, train.labels, test.images, test.labels, src.weights,
        labels_per_class=(5, 10, 20, 50, 100), seeds=tuple(args.seeds),
        image_size=src.image_size, budget=args.budget, fine_tune_learning_rate=1e-3,
        **src.kwargs)


def hymenoptera(args):
    data = tk.kit.load_example_photos(image_size=224)
    train_images, train_labels, val_images, val_labels = data.arrays()
    return experiments.data_efficiency(
        "mobilenet", train_images, train_labels, val_images, val_labels, "imagenet",
        labels_per_class=(5, 10, 20, 50, 100), seeds=tuple(args.seeds),
        budget=args.budget, alpha=0.25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="standard", choices=list(experiments.BUDGETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=["fashion", "hymenoptera"])
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args()
    tasks = {"fashion": fashion, "hymenoptera": hymenoptera}
    for name, run in tasks.items():
        if args.only and name != args.only:
            continue
        start = time.perf_counter()
        result = run(args)
        print(f"\n### {name} ({time.perf_counter() - start:.0f} s)\n")
        print(result.to_markdown())
        if not args.no_json:
            (HERE / f"data_efficiency_{name}.json").write_text(
                json.dumps(result.to_dict(), indent=1) + "\n")


if __name__ == "__main__":
    main()
