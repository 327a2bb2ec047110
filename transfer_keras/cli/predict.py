"""`transfer-keras predict`: the top-k classes of each image, by a saved model."""

import json
from pathlib import Path

import numpy as np

from transfer_keras._table import Table
from transfer_keras.cli.model_files import class_names_for, input_size, load_model_file
from transfer_keras.cli.output import EXIT_OK, note
from transfer_keras.data import list_files, read_image
from transfer_keras.errors import UsageError
from transfer_keras.inference import num_classes_of, predict_probabilities


def _image_files(path):
    """`(root, files, skipped)`: one file, or the files under a folder, walked as
    `load_image_folder` walks it (hidden entries, unreadable folders and link
    loops come back in `skipped` with the reason; broken links, FIFOs and
    devices are files that `load_image` refuses with the reason)."""
    path = Path(path).expanduser()
    if path.is_dir():
        files, skipped = list_files(path)
        if not files:
            raise UsageError(f"Folder {str(path)!r} holds no files to predict.")
        return path, files, [(str(p.relative_to(path)), reason) for p, reason in skipped]
    if path.exists() or path.is_symlink():
        return path.parent, [path], []
    raise UsageError(f"Image or folder {str(path)!r} does not exist. Check the path.")


def _read_images(root, files, size, skipped):
    """`(pixels, names)` of the readable images; appends the others to `skipped`."""
    images, names = [], []
    for file in files:  # read as `load_image` reads them; the reason says why not
        _, pixels, reason = read_image(file, size)  # not an image, corrupt, unreadable
        if reason:
            skipped.append((str(file.relative_to(root)), reason))
        else:
            images.append(pixels)
            names.append(str(file.relative_to(root)))
    for name, reason in skipped:
        note(f"skipped {name}: {reason}")
    if not images:
        raise UsageError(f"None of the {len(files)} file(s) is a readable image.")
    return np.stack(images), names


def _top_k(probabilities, names, class_names, top_k):
    """One result per image: its file and its `top_k` classes with their probabilities."""
    results = []
    for name, row in zip(names, probabilities):
        best = np.argsort(-row)[:top_k]
        results.append({"file": name,
                        "predictions": [{"class": class_names[i],
                                         "probability": round(float(row[i]), 4)}
                                        for i in best]})
    return results


def _print_table(results, top_k, model_path):
    columns = ["file"] + [f"top-{i}" for i in range(1, top_k + 1)]
    rows = [{"file": result["file"],
             **{f"top-{i}": f"{p['class']} ({p['probability']:.3f})"
                for i, p in enumerate(result["predictions"], start=1)}}
            for result in results]
    print(Table(columns, rows, title=f"Predictions of {model_path} ({len(rows)} image(s))"))


def run(args):
    """Prints the top-k classes of each image (a table, or JSON with `--json`)."""
    root, files, skipped = _image_files(args.images)
    model = load_model_file(args.model)
    size = input_size(model)
    num_classes = num_classes_of(model)
    class_names, names_from = class_names_for(args.model, num_classes)
    if names_from is None:
        note(f"no class names in {args.model}: showing class indices "
             f"0..{num_classes - 1} instead of names.")
    images, names = _read_images(root, files, size, skipped)
    probabilities = predict_probabilities(model, images)
    top_k = min(args.top_k, num_classes)
    results = _top_k(probabilities, names, class_names, top_k)
    if args.json:
        print(json.dumps({"model": str(args.model), "class_names": class_names,
                          "class_names_from": names_from, "results": results,
                          "skipped": [{"file": f, "reason": r} for f, r in skipped]},
                         indent=2))
    else:
        _print_table(results, top_k, args.model)
    return EXIT_OK
