"""Is `load_image_folder` as fast as Keras's loader, and is its memory flat as folders grow?

Builds, once, folders of 2,000 and 20,000 JPEG photos (two classes) from the
kit's ants/bees photos: each a distinct random crop (70-100 % of each side),
randomly flipped, resized so its long side is 400-640 px (real photos of
the hymenoptera set have a median of 500x375) and saved at JPEG quality 90.
Then, for each folder, side by side in one run and each in a fresh
subprocess (so its peak memory is its own):

- keras: `keras.utils.image_dataset_from_directory(folder, image_size)` + one
  pass over the dataset;
- transfer_keras: `load_image_folder(folder, image_size)` (scan, checks,
  duplicates report, decode) + one pass over its datasets.

It prints images/s for both, the ratio transfer_keras / keras (target
>= 0.9), the peak resident memory (MB) of each process, which mode
`load_image_folder` chose, the load average and, on Linux, the share of the
CPU time the host of a virtual machine stole from it during each run (a
run with much steal was slowed from outside), and writes it all to
`benchmarks/loader.json`. Target: transfer_keras's peak memory at 20,000
photos within 1.5x of that at 2,000.

`--modes memory streaming` also times `load_image_folder(..., mode=...)` with
each mode forced (the default, `auto`, picks memory below 256 MB of decoded
pixels), and `--passes 3` makes three passes instead of one (training makes
one per epoch; Keras's loader decodes again on each).

Usage:
    .venv/bin/python benchmarks/bench_loader.py --sizes 2000 20000 [--workdir DIR]
        [--image-size 224] [--repeats 1] [--modes auto] [--passes 1]
        [--out benchmarks/loader.json]

Without --workdir the folders are built in a temporary folder and deleted at
the end (20,000 photos take about 0.8 GB and a few minutes to build).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MODES = ("auto", "memory", "streaming")


def _make_photo(args):
    """Writes photo number `index`: a seeded random crop and flip of a kit photo."""
    import numpy as np
    from PIL import Image, ImageOps

    source, target, index = args
    rng = np.random.default_rng(index)
    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    crop_w, crop_h = (max(16, int(side * rng.uniform(0.7, 1.0))) for side in (width, height))
    left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
    image = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    scale = int(rng.integers(400, 641)) / max(crop_w, crop_h)
    image = image.resize((round(crop_w * scale), round(crop_h * scale)),
                         Image.Resampling.BICUBIC)
    image.save(target, "JPEG", quality=90)


def build_folder(workdir, size):
    """`workdir/photos_<size>/<ants|bees>/<index>.jpg`, built once (a marker says it is whole)."""
    sys.path.insert(0, str(REPO))
    from transfer_keras import kit

    folder = Path(workdir) / f"photos_{size}"
    marker = Path(workdir) / f"photos_{size}.complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    sources = {name: sorted((Path(kit.example_photos_folder()) / "train" / name).glob("*.jpg"))
               for name in ("ants", "bees")}
    jobs = []
    for index in range(size):
        name = ("ants", "bees")[index % 2]
        (folder / name).mkdir(parents=True, exist_ok=True)
        source = sources[name][(index // 2) % len(sources[name])]
        jobs.append((source, folder / name / f"{index:06d}.jpg", index))
    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_make_photo, jobs))
    marker.write_text(f"{size}\n")
    print(f"built {folder} ({size} photos) in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def run_child(loader, folder, image_size, batch_size, passes):
    """In a fresh process: load the folder, make the passes, print the measurements as JSON.

    `loader` is "keras" or "transfer_keras:<mode>".
    """
    import keras

    sys.path.insert(0, str(REPO))
    from transfer_keras.data import load_image_folder

    start, cpu_start = time.perf_counter(), _cpu_seconds()
    mode = None
    if loader == "keras":
        datasets = [keras.utils.image_dataset_from_directory(
            folder, image_size=(image_size, image_size), batch_size=batch_size, seed=0,
            verbose=False)]
    else:
        data = load_image_folder(folder, image_size, batch_size=batch_size,
                                 mode=loader.split(":")[1])
        datasets = [ds for ds in (data.train_ds, data.val_ds, data.test_ds) if ds is not None]
        mode = data.report.mode
    images = 0
    for _ in range(passes):
        for ds in datasets:
            for batch, _ in ds:
                images += int(batch.shape[0])
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(json.dumps({"loader": loader, "images": images, "seconds": round(seconds, 2),
                      "images_per_second": round(images / seconds, 1),
                      "cpu_ms_per_image": round(1000 * cpu_seconds / images, 2),
                      "peak_mb": round(peak_mb), "mode": mode}))


def _cpu_seconds():
    """User + system CPU time of this process (all threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_cpu_ticks():
    """`(steal, total)` CPU ticks of the whole machine so far, from /proc/stat
    (Linux), or None elsewhere. Steal is time the host of a virtual machine
    gave this machine's virtual CPUs to someone else: a run with much of it
    was slowed from outside and says little about the code."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(field) for field in fields[:8]]  # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


def measure(loader, folder, image_size, batch_size, passes):
    command = [sys.executable, __file__, "--child", loader, str(folder),
               "--image-size", str(image_size), "--batch-size", str(batch_size),
               "--passes", str(passes)]
    load, ticks = os.getloadavg()[0], _machine_cpu_ticks()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["load_average_before"] = round(load, 2)
    if ticks is not None:
        steal, total = (after - before for after, before in zip(_machine_cpu_ticks(), ticks))
        result["steal_percent"] = round(100 * steal / max(total, 1), 1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workdir", help="where the photo folders are built (kept)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["auto"],
                        help="modes of load_image_folder to time (auto: its own choice)")
    parser.add_argument("--passes", type=int, default=1, help="passes over the datasets")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "loader.json"))
    parser.add_argument("--child", nargs=2, metavar=("LOADER", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args.child[0], args.child[1], args.image_size, args.batch_size,
                         args.passes)
    loaders = ["keras"] + [f"transfer_keras:{mode}" for mode in args.modes]
    ours = loaders[1]  # the ratio and the memory target use the first mode given

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_loader_")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in args.sizes:
            folder = build_folder(workdir, size)
            runs = {loader: [] for loader in loaders}
            for repeat in range(args.repeats):
                order = loaders if repeat % 2 == 0 else loaders[::-1]
                for loader in order:
                    runs[loader].append(measure(loader, folder, args.image_size,
                                                args.batch_size, args.passes))
            row = {"photos": size}
            for loader in loaders:
                row[loader] = {
                    "images_per_second": statistics.median(r["images_per_second"]
                                                           for r in runs[loader]),
                    "peak_mb": max(r["peak_mb"] for r in runs[loader]),
                    "runs": runs[loader],
                }
            keras_rate = row["keras"]["images_per_second"]
            row["ratio"] = round(row[ours]["images_per_second"] / keras_rate, 2)
            row["mode"] = runs[ours][0]["mode"]
            results.append(row)
            print(f"{size:>6} photos: keras {keras_rate:7.1f} img/s "
                  f"{row['keras']['peak_mb']:6} MB", flush=True)
            for loader in loaders[1:]:
                rate = row[loader]["images_per_second"]
                print(f"{'':>14}{loader:>25} {rate:7.1f} img/s {row[loader]['peak_mb']:6} MB "
                      f"({runs[loader][0]['mode']}) | ratio to keras {rate / keras_rate:.2f}",
                      flush=True)
            steal = sorted(round(r["steal_percent"]) for rs in runs.values() for r in rs
                           if "steal_percent" in r)
            steal_text = ""
            if steal:
                steal_range = f"{steal[0]}" if steal[0] == steal[-1] else f"{steal[0]}-{steal[-1]}"
                steal_text = f", host steal {steal_range}% of the CPU time"
            print(f"{'':>14}load average {os.getloadavg()[0]:.1f}{steal_text}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(results) > 1:
        growth = results[-1][ours]["peak_mb"] / results[0][ours]["peak_mb"]
        print(f"transfer_keras peak memory {results[-1]['photos']} vs {results[0]['photos']} "
              f"photos: {growth:.2f}x (target <= 1.5x)")
    import tensorflow as tf
    import keras

    record = {
        "image_size": args.image_size, "batch_size": args.batch_size,
        "repeats": args.repeats, "passes": args.passes, "results": results,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "tensorflow": tf.__version__,
                    "keras": keras.__version__},
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
