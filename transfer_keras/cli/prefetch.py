"""`transfer-keras prefetch`: ImageNet weights and data sets into the Keras cache."""

import sys
from pathlib import Path

import keras

from transfer_keras._table import Table
from transfer_keras.backbones import (
    build_backbone_with_weights,
    cached_weights,
    check_input_shape,
    get_backbone_spec,
    keras_cache_dir,
)
from transfer_keras.cli.output import EXIT_FAILED, EXIT_OK, say
from transfer_keras.cli.parser import backbone_kwargs
from transfer_keras.errors import WeightsUnavailableError


def _prefetch_backbone(name, image_size, alpha):
    spec = get_backbone_spec(name)
    size = image_size or spec.default_size
    built = build_backbone_with_weights(spec.name, input_shape=(size, size, 3), weights="imagenet",
                                        **backbone_kwargs(spec.name, alpha))
    wanted = keras_cache_dir() / built.weights_requested
    if Path(built.weights_file) != wanted or not wanted.is_file():
        # Offline, `build_backbone` falls back to a file for another input size:
        # fine for this machine, but nothing was cached for the others.
        raise WeightsUnavailableError(
            f"The download of {wanted.name} failed, so nothing was written to the Keras "
            f"cache {wanted.parent}. (This machine can still build {spec.name!r} offline "
            f"from {built.weights_file}, the same ImageNet weights for another input "
            f"size, but copying the cache would not give them to other machines.) Run "
            f"this command again on a machine with internet access.")
    files = ", ".join(path.name for path in cached_weights(spec.name))
    return f"{spec.name} at {size} px: {files}"


def _prefetch_fashion_mnist():
    keras.datasets.fashion_mnist.load_data()
    return f"Fashion-MNIST in {keras_cache_dir().parent / 'datasets' / 'fashion-mnist'}"


def _jobs(args):
    """`[(item, job)]`: what to fetch, each checked before anything is downloaded."""
    specs = [get_backbone_spec(name) for name in args.backbones]
    for spec in specs:
        check_input_shape(spec, None if args.image_size is None
                          else (args.image_size, args.image_size, 3))
    jobs = [(spec.name, lambda spec=spec: _prefetch_backbone(spec.name, args.image_size,
                                                              args.alpha))
            for spec in specs]
    return jobs + [("fashion_mnist", _prefetch_fashion_mnist) for _ in args.datasets]


def _fetch(jobs):
    """Runs every job, going on after a failure; returns `(table rows, failures)`."""
    rows, failures = [], []
    for item, job in jobs:
        say(f"Fetching {item} ...")
        try:
            detail = job()
        except WeightsUnavailableError as error:
            failures.append((item, str(error)))  # (prefetch has no --weights)
            rows.append({"item": item, "status": "failed",
                         "detail": "download failed (see below)"})
        except Exception as error:  # no network, proxy, full disk: report, go on
            failures.append((item, f"{type(error).__name__}: {error}"))
            rows.append({"item": item, "status": "failed",
                         "detail": "download failed (see below)"})
        else:
            rows.append({"item": item, "status": "ok", "detail": detail})
    return rows, failures


def run(args):
    """Downloads the weights and data sets asked for; says how to copy them offline."""
    rows, failures = _fetch(_jobs(args))
    say()
    say(str(Table(["item", "status", "detail"], rows, title="Prefetch")))
    home = keras_cache_dir().parent
    for item, message in failures:
        say(f"\n{item} failed:\n{message}")
    if failures:
        print(f"\nerror: {len(failures)} of {len(rows)} item(s) could not be fetched. This "
              f"command needs internet access: run it on a machine that has it, then copy "
              f"its Keras folder {home} to the offline machines (see below).",
              file=sys.stderr)
    say(f"\nTo use these files on offline classroom machines, copy the Keras folder "
        f"{home} to the same place there, e.g.\n"
        f"    rsync -a {home}/ student@host:~/.keras/\n"
        f"or with a USB stick; or put it anywhere and set KERAS_HOME to that folder "
        f"before running Python (export KERAS_HOME=/path/to/keras_folder).")
    return EXIT_FAILED if failures else EXIT_OK
