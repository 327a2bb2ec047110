"""Makes the embedded example kit in data/ from the original files in ../shared.

- `imagenet/mobilenet_2_5_224_tf_no_top.h5`: the genuine ImageNet weights of
  `keras.applications.MobileNet(alpha=0.25, include_top=False)`, copied byte for
  byte and checked against the sha256 Keras publishes for it.
- `hymenoptera/{train,val,test}/{ants,bees}/*.jpg`: every photo of the ants/bees
  data set, upright (EXIF applied), resized so the shorter side is 160 px
  (never enlarged), re-encoded as JPEG quality 90. The original `val/` folder
  becomes `test/` (never used for any choice); the original `train/` folder is
  split once, per class, 75% `train/` and 25% `val/` with seed 0.
- `hymenoptera_manifest.csv`: one row per photo: split, class, file, original
  path and the original file's sha256.

Run from the repository root (a few seconds; the output is the same every time):

    python data/make_kit.py --shared ../shared
"""

import argparse
import csv
import hashlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
WEIGHTS_NAME = "mobilenet_2_5_224_tf_no_top.h5"
WEIGHTS_SHA256 = "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"
SHORT_SIDE = 160
JPEG_QUALITY = 90
VAL_FRACTION = 0.25
SEED = 0
CLASSES = ("ants", "bees")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _compact(data):
    """Original JPEG bytes -> upright RGB JPEG bytes, shorter side SHORT_SIDE px."""
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        scale = SHORT_SIDE / min(image.size)
        if scale < 1:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return out.getvalue()


def _photos(folder):
    """The photos of one original class folder, sorted; the placeholder GIF is not one."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    args = parser.parse_args(argv)
    source = args.shared / "data" / "hymenoptera_data"
    weights = args.shared / "weights" / WEIGHTS_NAME
    if not source.is_dir() or not weights.is_file():
        sys.exit(f"--shared {args.shared} does not hold data/hymenoptera_data and "
                 f"weights/{WEIGHTS_NAME}.")

    if _sha256(weights.read_bytes()) != WEIGHTS_SHA256:
        sys.exit(f"{weights} does not have the published sha256 {WEIGHTS_SHA256}.")
    (HERE / "imagenet").mkdir(exist_ok=True)
    shutil.copyfile(weights, HERE / "imagenet" / WEIGHTS_NAME)

    out = HERE / "hymenoptera"
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(SEED)
    rows = []
    for class_name in CLASSES:
        originals = _photos(source / "train" / class_name)
        order = rng.permutation(len(originals))
        num_val = round(len(originals) * VAL_FRACTION)
        val = {originals[i] for i in order[:num_val]}
        plan = [("val" if p in val else "train", p) for p in originals]
        plan += [("test", p) for p in _photos(source / "val" / class_name)]
        for split, original in plan:
            data = original.read_bytes()
            target = out / split / class_name / (original.stem + ".jpg")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_compact(data))
            rows.append([split, class_name, target.name,
                         str(original.relative_to(source.parent)), _sha256(data)])
    with open(HERE / "hymenoptera_manifest.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["split", "class", "file", "original", "original_sha256"])
        writer.writerows(sorted(rows))
    for split in ("train", "val", "test"):
        counts = {c: sum(1 for r in rows if r[0] == split and r[1] == c) for c in CLASSES}
        print(f"{split}: {counts}")
    size = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"data/ now holds {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
