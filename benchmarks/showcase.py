"""The demo's measurement at a larger budget: more seeds, more curve points, and
the scratch learning rate chosen on the validation photos.

It answers three questions with one run of `run_showcase` (ants/bees of the kit,
ImageNet EfficientNet-Lite0 at 224 px, test photos scored once per run):
- the demo table (six methods, mean and std over the seeds);
- do the library's defaults (`train_two_stage(model, train_ds, val_ds)`,
  the `fine_tuned` row) reach the linear probe? Seed by seed;
- which scratch learning rate wins on validation (the demo uses it).

Writes benchmarks/showcase.json (`showcase_mobilenet.json` holds the same
benchmark run with MobileNet-0.25 at 128 px, before EfficientNet-Lite0). Run
from the repository root (about 20 minutes on 2 cores with the defaults below):

    .venv/bin/python benchmarks/showcase.py [--seeds 0 1 2 3 4] [--curve 5 10 20]
"""

import argparse
import json
from pathlib import Path

from transfer_keras.showcase import SHOWCASE_IMAGE_SIZE, run_showcase

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--curve", type=int, nargs="*", default=[5, 10, 20])
    parser.add_argument("--image-size", type=int, default=SHOWCASE_IMAGE_SIZE)
    parser.add_argument("--scratch-learning-rates", type=float, nargs="+",
                        default=[3e-4, 1e-3, 3e-3])
    parser.add_argument("--out", type=Path, default=HERE / "showcase.json")
    args = parser.parse_args()
    result = run_showcase(image_size=args.image_size, seeds=tuple(args.seeds),
                          labels_per_class=tuple(args.curve),
                          scratch_learning_rates=tuple(args.scratch_learning_rates))
    print()
    print(result.to_markdown())
    probe = result.accuracy("probe")
    per_seed = [r for r in result.runs
                if r["method"] == "fine_tuned" and r["labels_per_class"] == "all"]
    print()
    print("| seed | defaults (fine_tuned) | probe | defaults - probe |")
    print("|---|---|---|---|")
    for run in per_seed:
        print(f"| {run['seed']} | {run['accuracy']:.3f} | {probe:.3f} | "
              f"{run['accuracy'] - probe:+.3f} |")
    above = sum(run["accuracy"] >= probe for run in per_seed)
    print(f"\nDefaults at or above the probe on {above} of {len(per_seed)} seeds; mean "
          f"{result.accuracy('fine_tuned'):.3f} vs {probe:.3f}. Scratch learning rate "
          f"chosen on validation: {result.settings['scratch']['learning_rate']:g}. "
          f"{result.seconds:.0f} s.")
    data = result.to_dict()
    data["command"] = ("benchmarks/showcase.py --seeds " + " ".join(map(str, args.seeds))
                       + " --curve " + " ".join(map(str, args.curve)))
    args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
