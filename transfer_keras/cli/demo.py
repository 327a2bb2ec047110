"""`transfer-keras demo`: transfer on the kit's ants/bees photos against every baseline."""

from transfer_keras import efficientnet_lite, kit
from transfer_keras.cli.folders import check_out, writing_to
from transfer_keras.cli.output import EXIT_OK, say
from transfer_keras.reports import showcase_report, write_outputs
from transfer_keras.showcase import SHOWCASE_BACKBONE, run_showcase


def run(args):
    """Transfer on the kit's ants/bees photos against every baseline (`run_showcase`)."""
    out = check_out(args.out, overwrite=args.overwrite)
    kit.example_photos_folder()  # KitUnavailableError (exit 1) if the kit is missing
    weights = efficientnet_lite.imagenet_weights()  # converted once; exit 1 if impossible
    say(f"Ants or bees: {SHOWCASE_BACKBONE} with genuine ImageNet weights ({weights}) "
        f"against every baseline, seeds {' '.join(map(str, args.seeds))}; scored on the "
        f"test photos only")
    with writing_to(out) as staging:  # out itself changes only at the end
        result = run_showcase(image_size=args.image_size, seeds=tuple(args.seeds),
                              labels_per_class=tuple(args.curve))
        command = ("transfer-keras demo --seeds " + " ".join(map(str, args.seeds))
                   + " --curve " + " ".join(map(str, args.curve))
                   + f" --image-size {args.image_size}")
        report_md, report_json, figures = showcase_report(result, command)
        written = write_outputs(staging, report_md, report_json, figures, result.model,
                                result.settings["class_names"])
    say()
    say(str(result.table()))
    say()
    say(f"Wrote {', '.join(written)} to {out}")
    say(f"{result.conclusion()}  ({result.seconds:.0f} s)")
    return EXIT_OK
