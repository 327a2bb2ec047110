"""Is `prepare()` fast enough to keep a CPU busy? And how fast does a folder scan?

Runs, side by side, feature extraction with MobileNetV2 (random weights, 96x96,
average pooling):

- pipeline: 28x28 grayscale uint8 arrays -> `prepare()` (resize to 96x96,
  gray -> RGB, batch, prefetch) -> `model.predict(ds)`;
- in memory: the same images already resized to one float32 (n, 96, 96, 3)
  tensor -> `model.predict(tensor)`.

It prints each time and the ratio in-memory time / pipeline time, from the
best of the repeats (1.0 means the pipeline costs nothing; the target is
>= 0.9). It then times `load_image_folder` on ../shared/data/hymenoptera_data
when present.

Usage:
    .venv/bin/python benchmarks/bench_pipeline.py [--num-images 2000] [--repeats 3]
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transfer_keras.data import (  # noqa: E402
    FashionMNISTUnavailableError,
    load_fashion_mnist,
    load_image_folder,
    prepare,
)

PHOTOS = REPO.parent / "shared" / "data" / "hymenoptera_data"
IMAGE_SIZE = 96
BATCH_SIZE = 32


def get_images(num_images):
    """Returns (images, labels, where they came from): Fashion-MNIST or random pixels."""
    try:
        fashion = load_fashion_mnist(download=False)
        return (fashion.train_images[:num_images], fashion.train_labels[:num_images],
                f"Fashion-MNIST ({fashion.source})")
    except FashionMNISTUnavailableError:
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, (num_images, 28, 28), np.uint8),
                rng.integers(0, 10, num_images), "random uint8 28x28 images")


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_feature_extraction(num_images, repeats):
    images, labels, source = get_images(num_images)
    model = keras.applications.MobileNetV2(include_top=False, weights=None,
                                           input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                                           pooling="avg")
    tensor = tf.image.grayscale_to_rgb(
        tf.image.resize(images[..., None], (IMAGE_SIZE, IMAGE_SIZE), method="bilinear"))

    def pipeline():
        ds = prepare((images, labels), image_size=IMAGE_SIZE, batch_size=BATCH_SIZE)
        return model.predict(ds, verbose=0)

    def in_memory():
        return model.predict(tensor, batch_size=BATCH_SIZE, verbose=0)

    print(f"Feature extraction: MobileNetV2(weights=None, input_shape=({IMAGE_SIZE}, "
          f"{IMAGE_SIZE}, 3), pooling='avg'), batch size {BATCH_SIZE}, {len(images)} "
          f"images from {source}")
    features = [pipeline(), in_memory()]  # warm-up: trace both predict paths once
    difference = float(np.abs(features[0] - features[1]).max())
    print(f"  warm-up done; largest difference between the two feature sets: {difference:.2e}")
    times = {"pipeline": [], "in memory": []}
    for repeat in range(repeats):
        times["pipeline"].append(timed(pipeline))
        times["in memory"].append(timed(in_memory))
        print(f"  run {repeat + 1}: prepare() + predict(ds) {times['pipeline'][-1]:.2f} s, "
              f"predict(tensor) {times['in memory'][-1]:.2f} s")
    # The best of the repeats is the least disturbed by other work on the machine
    # (as `timeit` advises); the medians are shown too.
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    for name in times:
        print(f"  {name}: best {best[name]:.2f} s ({len(images) / best[name]:.0f} images/s), "
              f"median {median[name]:.2f} s")
    ratio = best["in memory"] / best["pipeline"]
    print(f"  ratio in-memory / pipeline (best times) = {ratio:.3f}, (medians) = "
          f"{median['in memory'] / median['pipeline']:.3f}; target >= 0.9: "
          f"{'met' if ratio >= 0.9 else 'MISSED'}")
    return ratio


def bench_folder_scan(repeats):
    if not PHOTOS.is_dir():
        print(f"Folder scan: skipped ({PHOTOS} is absent)")
        return
    for image_size in (224, 96):
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            report = load_image_folder(PHOTOS, image_size).report
            seconds.append(time.perf_counter() - start)
        best = min(seconds)
        print(f"Folder scan: load_image_folder({PHOTOS.name}, {image_size}): "
              f"{report.num_images} images, best of {repeats} {best:.2f} s = "
              f"{report.num_images / best:.0f} images/s (first run {seconds[0]:.2f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU "
          f"cores, {platform.system()}; Python {platform.python_version()}, TensorFlow "
          f"{tf.__version__}, Keras {keras.__version__}, GPUs: "
          f"{len(tf.config.list_physical_devices('GPU'))}")
    keras.utils.set_random_seed(0)
    bench_feature_extraction(args.num_images, args.repeats)
    bench_folder_scan(args.repeats)


if __name__ == "__main__":
    main()
