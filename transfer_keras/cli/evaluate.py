"""`transfer-keras evaluate`: a saved model scored on a labelled image folder."""

import unicodedata

import numpy as np

from transfer_keras.cli.folders import check_out, existing_folder, writing_to
from transfer_keras.cli.model_files import class_names_for, input_size, load_model_file
from transfer_keras.cli.output import EXIT_OK, note, say
from transfer_keras.data import load_image_folder
from transfer_keras.errors import UsageError
from transfer_keras.evaluation import evaluate_classifier
from transfer_keras.inference import num_classes_of
from transfer_keras.reports import evaluate_report, write_outputs


def _folder_to_model_labels(folder, folder_names, model_names, names_from, model_path):
    """Returns `(class names of the model, array: folder label -> model label)`."""
    if names_from is None:
        if len(folder_names) != len(model_names):
            raise UsageError(
                f"No class names in {model_path}, and the folder has {len(folder_names)} "
                f"classes while the model predicts {len(model_names)}: cannot tell which "
                f"folder is which class. Save the model with its class names, in label "
                f"order (save_model(model, path, class_names=[...])).")
        note(f"no class names in {model_path}: assuming the folders, sorted "
             f"({', '.join(folder_names)}), are classes 0..{len(model_names) - 1}.")
        model_names = list(folder_names)
    # Names compare in Unicode's NFC form, as `load_image_folder` gives them: a model
    # trained on folders from macOS may hold decomposed names ("e" + accent).
    known = [unicodedata.normalize("NFC", str(name)) for name in model_names]
    unknown = [name for name in folder_names if name not in known]
    if unknown:
        raise UsageError(f"Class folder(s) {', '.join(unknown)} in {folder} are not classes "
                         f"of the model, which knows: {', '.join(model_names)}. Rename or "
                         f"remove those folders.")
    # Folder label i is the folder folder_names[i]; the model's label is its position
    # in model_names.
    return model_names, np.array([known.index(name) for name in folder_names])


def _scored_part(report):
    """`(part, images, labels)`: with split folders the last held-out part (test/, else
    the validation part), else the whole folder."""
    part = next((split for split in ("test", "val") if split in report.counts), "train")
    images, labels = getattr(report, f"{part}_images"), getattr(report, f"{part}_labels")
    if part != "train":
        others = [split for split in report.counts if split != part]
        say(f"Evaluating on the held-out {part} part ({len(labels)} images); the "
            f"{' and '.join(others)} part{'s are' if len(others) > 1 else ' is'} not scored.")
    return part, images, labels


def run(args):
    """Scores a saved model on a labelled image folder; optionally writes the report."""
    folder = existing_folder(args.data_dir, "DATA_DIR")
    out = None if args.out is None else check_out(args.out, data_dir=folder,
                                                  overwrite=args.overwrite,
                                                  model_path=args.model)
    model = load_model_file(args.model)
    size = input_size(model)
    model_names, names_from = class_names_for(args.model, num_classes_of(model))
    data = load_image_folder(folder, size, batch_size=args.batch_size, shuffle=False)
    say(str(data.report))
    say()
    part, images, labels = _scored_part(data.report)
    model_names, to_model_label = _folder_to_model_labels(
        folder, data.class_names, model_names, names_from, args.model)
    evaluation = evaluate_classifier(model, (images, to_model_label[labels]),
                                     class_names=model_names,
                                     batch_size=args.batch_size)
    print(evaluation)
    if out is not None:
        with writing_to(out) as staging:
            written = write_outputs(staging, *evaluate_report(data, evaluation, args.model,
                                                              names_from, part))
        say(f"Wrote {', '.join(written)} to {out}")
    return EXIT_OK
