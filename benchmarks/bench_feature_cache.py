"""Stage 1 with feature caching vs the textbook (naive) path, side by side.

Naive (the Keras transfer-learning guide): the frozen backbone runs on every
batch of every epoch. Cached (`train_head(feature_cache="memory")`): the backbone
runs once, the head trains on the stored features. Same data, same head, same
epochs, same seed; both timed end to end (feature extraction included).

    .venv/bin/python benchmarks/bench_feature_cache.py [--epochs 10] [--repeats 5]

Task: Fashion-MNIST target classes 5-9 with the project's source backbone
(MobileNet alpha 0.25) at 64 px, 5,000 training and 1,000 validation images;
with ../shared present, also ants/bees with ImageNet MobileNet-0.25 at 224 px.
"""

import argparse
import time



import keras  # noqa: E402
import numpy as np  # noqa: E402

import transfer_keras as tk  # noqa: E402


def fashion_task():
    src = tk.project_source_backbone()
    fmnist = tk.load_fashion_mnist()
    _, target = tk.split_classes(fmnist.train_images, fmnist.train_labels, range(5),
                                 range(5, 10), class_names=fmnist.class_names)
    images, labels = tk.sample_per_class(target.images, target.labels, 1200, seed=0)
    order = np.random.default_rng(0).permutation(len(labels))
    val_index, train_index = order[:1000], order[1000:]
    train_ds = tk.prepare((images[train_index], labels[train_index]), image_size=64, batch_size=32,
                          shuffle=True, seed=0)
    val_ds = tk.prepare((images[val_index], labels[val_index]), image_size=64, batch_size=128)

    def build():
        return tk.build_classifier(src.backbone, 5, input_shape=(64, 64, 3), weights=src.weights,
                                   **src.kwargs)
    return "Fashion-MNIST 5-9 (5,000 train), source MobileNet-0.25, 64 px", build, \
        train_ds, val_ds


def hymenoptera_task():
    data = tk.kit.load_example_photos(image_size=224, batch_size=32, seed=0)

    def build():
        return tk.build_classifier("mobilenet", 2, input_shape=(224, 224, 3), weights="imagenet",
                                   alpha=0.25)
    return "ants/bees, ImageNet MobileNet-0.25, 224 px", build, data.train_ds, data.val_ds


def run(build, train_ds, val_ds, epochs, cache, seed=0):
    keras.utils.set_random_seed(seed)
    model = build()
    start = time.perf_counter()
    history = tk.train_head(model, train_ds, val_ds, epochs=epochs,
                            feature_cache="memory" if cache else None,
                            patience=0, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, history.history["val_accuracy"][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tasks = [fashion_task(), hymenoptera_task()]
    print(f"Times: best of {args.repeats} runs; validation accuracy: mean over the "
          f"same {args.repeats} seeds for both paths.")
    print("| task | naive s | cached s | speed-up | naive val acc | cached val acc |")
    print("|---|---|---|---|---|---|")
    for name, build, train_ds, val_ds in tasks:
        run(build, train_ds, val_ds, 1, True)  # warm-up: traces, caches
        naive, cached = [], []
        for seed in range(args.repeats):  # alternate, so load hits both alike
            naive.append(run(build, train_ds, val_ds, args.epochs, False, seed))
            cached.append(run(build, train_ds, val_ds, args.epochs, True, seed))
        naive_s, cached_s = min(t for t, _ in naive), min(t for t, _ in cached)
        naive_acc = np.mean([a for _, a in naive])
        cached_acc = np.mean([a for _, a in cached])
        print(f"| {name} | {naive_s:.1f} | {cached_s:.1f} | {naive_s / cached_s:.1f}x "
              f"| {naive_acc:.3f} | {cached_acc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
