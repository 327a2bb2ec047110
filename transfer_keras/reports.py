"""Output folders: report.md, report.json, figures and the model, written once.

`showcase_report`, `train_report` and `evaluate_report` build what the `demo`,
`train` and `evaluate` commands write: `(report_md, report_json, figures)`.
`write_outputs` is the one writer every command uses: the model first, then
the figures, then the reports, each atomically, so a crash can leave a model
without its report but never a report that describes a model that was not saved.
"""

import json
from pathlib import Path

import numpy as np

from transfer_keras._files import atomic_path, write_text_atomically
from transfer_keras.freezing import trainable_summary
from transfer_keras.saving import save_model
from transfer_keras.stages import DEFAULT_FINE_TUNE_FRACTION

MODEL_FILE = "model.keras"


def _json_default(value):
    """Lets `json.dumps` write numpy numbers and arrays and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(data):
    """JSON text of a report (numpy values and paths included), indented."""
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def write_outputs(folder, report_md, report_json, figures=None, model=None,
                  class_names=None):
    """Writes a command's outputs into `folder`, each file atomically.

    Args:
        folder: an existing folder.
        report_md: the Markdown report text.
        report_json: the JSON-able report data.
        figures: `{file name: matplotlib Figure}`. Defaults to `None`.
        model: a Keras model, saved as `model.keras` with its class names.
            Defaults to `None`.
        class_names: the class names stored in the model file. Defaults to `None`.

    Returns:
        The file names written, in order.
    """
    folder = Path(folder)
    written = []
    if model is not None:
        save_model(model, folder / MODEL_FILE, class_names=class_names)
        written.append(MODEL_FILE)
    for name, figure in (figures or {}).items():
        with atomic_path(folder / name, suffix=".png") as temporary:
            figure.savefig(temporary, dpi=100)
        written.append(name)
    write_text_atomically(folder / "report.md", report_md)
    write_text_atomically(folder / "report.json", to_json(report_json))
    return written + ["report.md", "report.json"]


def showcase_report(result, command):
    """Report text, data and figures of a `ShowcaseResult` (the demo).

    Args:
        result: from `experiments.run_showcase`.
        command: the command line that made it, quoted in the report.

    Returns:
        `(report_md, report_json, figures)`.
    """
    from transfer_keras import plots  # figures only when a report is written

    settings = result.settings
    figures = {
        "learning_curves.png": plots.plot_history(result.history),
        "confusion_matrix.png": plots.plot_confusion_matrix(result.evaluation),
        "data_efficiency.png": plots.plot_data_efficiency(result.curve),
    }
    report_json = {"command": command, **result.to_dict(),
                   "evaluation": result.evaluation.to_dict(),
                   "history": result.history.to_dict()}
    report_md = "\n".join([
        "# transfer-keras demo: ants or bees, from genuine ImageNet features",
        "",
        f"- Data: {settings['train_images']} training, {settings['val_images']} "
        f"validation and {settings['test_images']} test photos of "
        f"{' and '.join(settings['class_names'])}, at {settings['image_size']} px. "
        f"Every choice looks at the validation photos only; the test photos are "
        f"scored once per run.",
        f"- Backbone: {backbone_phrase(settings['backbone'], settings['backbone_kwargs'])}, "
        f"weights {settings['weights']}; `fine_tuned` is "
        f"{', '.join(f'{k}={v}' for k, v in settings['recipe'].items() if k != 'function')}"
        f" of `train_two_stage`.",
        f"- Seeds {settings['seeds']}; with the same seed the numbers repeat exactly "
        f"(TensorFlow op determinism).",
        "",
        result.to_markdown(),
        "",
        f"## The fine-tuned model of seed {settings['seeds'][0]} on the test photos",
        "",
        result.evaluation.to_markdown(),
        "",
        "## Figures",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![data efficiency](data_efficiency.png)",
        "",
        f"Made by `{command}` in {result.seconds:.0f} s.",
        "",
    ])
    return report_md, report_json, figures


def fine_tune_extent(num_layers):
    """Words for what stage 2 unfreezes: `num_layers`, or `fine_tune`'s default."""
    if num_layers is not None:
        return f"the top {num_layers} backbone layers"
    if DEFAULT_FINE_TUNE_FRACTION == 1:
        return "the whole backbone"
    return f"the top {DEFAULT_FINE_TUNE_FRACTION:.0%} of the backbone's layers"


def _recipe(settings):
    """One line on how a `train` run trained: two stages, or from scratch."""
    epochs, fine_tune_epochs = settings["epochs"], settings["fine_tune_epochs"]
    if settings.get("from_scratch"):
        return (f"- From scratch (random weights): every layer trained, BatchNorm "
                f"included, {epochs_phrase(epochs)} at most; no fine-tuning stage.")
    stage_1 = f"- Stage 1 (frozen backbone, new head): {epochs_phrase(epochs)} at most"
    if not fine_tune_epochs:
        return stage_1 + "; no stage 2 (no fine-tuning: --fine-tune-epochs 0)."
    return (f"{stage_1}; stage 2 (fine-tuning {fine_tune_extent(settings['fine_tune_layers'])}, "
            f"BatchNorm frozen): {epochs_phrase(fine_tune_epochs)} at most.")


def backbone_phrase(name, kwargs):
    """'`mobilenet` (alpha 0.25)', or '`mobilenet`' without extra arguments."""
    extras = ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                       for key, value in (kwargs or {}).items())
    return f"`{name}`" + (f" ({extras})" if extras else "")


def epochs_phrase(count):
    """'1 epoch', '5 epochs'."""
    return f"{count} epoch" + ("" if count == 1 else "s")


def train_report(data, model, history, evaluation, settings, seconds, test=None):
    """Report text, data and figures of a two-stage run on an image folder (`train`).

    Args:
        data: the `ImageFolderData` trained on.
        model: the trained model.
        history: the `TransferHistory` of `train_two_stage`.
        evaluation: the `EvaluationReport` on the validation part.
        settings: the run's settings (`backbone`, `backbone_kwargs`, `weights`,
            `from_scratch`, `image_size`, `epochs`, `fine_tune_epochs`, `fine_tune_layers`,
            `augment`, `batch_size`, `validation_split`, `seed`, `data_dir`).
        seconds: wall-clock seconds of the whole run.
        test: the `EvaluationReport` on the folder's `test/` part, if it has one.
            Defaults to `None`.

    Returns:
        `(report_md, report_json, figures)`.
    """
    from transfer_keras import __version__, plots  # figures only when a report is written

    figures = {"learning_curves.png": plots.plot_history(history),
               "confusion_matrix.png": plots.plot_confusion_matrix(evaluation)}
    report_json = {
        "command": "train", "version": __version__, "settings": settings,
        "class_names": data.class_names, "data": data.report.to_dict(),
        "accuracy": evaluation.accuracy, "evaluated_on": "validation part",
        "evaluation": evaluation.to_dict(), "history": history.to_dict(),
        "trainable_params": trainable_summary(model).total_trainable,
        "test_accuracy": None if test is None else test.accuracy,
        "test_evaluation": None if test is None else test.to_dict(),
        "seconds": round(seconds, 1),
    }
    size, weights = settings["image_size"], settings["weights"] or "random (none)"
    report_md = "\n".join([
        f"# transfer-keras train: {Path(settings['data_dir']).name}",
        "",
        f"Validation accuracy **{evaluation.accuracy:.4f}** (macro F1 "
        f"{evaluation.macro_f1:.4f}) on {len(evaluation.y_true):,} images; classes: "
        f"{', '.join(data.class_names)}. Early stopping watched the validation part, "
        f"so this is slightly optimistic"
        + (f"; on the `test/` folder, which no choice looked at: **{test.accuracy:.4f}** "
           f"on {len(test.y_true):,} images." if test is not None else "."),
        "",
        "## Data",
        "",
        data.report.table().to_markdown(),
        "",
        "## Training",
        "",
        f"- Backbone {backbone_phrase(settings['backbone'], settings['backbone_kwargs'])}, "
        f"weights "
        f"{weights}, {size}x{size} px, batch size {settings['batch_size']}, seed "
        f"{settings['seed']}.",
        _recipe(settings)
        + f" {epochs_phrase(len(history.epoch))} run in {sum(history.seconds.values()):.0f} s.",
        "",
        "## Evaluation on the validation part",
        "",
        evaluation.to_markdown(),
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ])
    return report_md, report_json, figures


def evaluate_report(data, evaluation, model_path, class_names_from, part="train"):
    """Report text, data and figures of a saved model scored on an image folder (`evaluate`).

    Args:
        data: the `ImageFolderData` scored.
        evaluation: the `EvaluationReport` (its class names are the model's).
        model_path: the model file.
        class_names_from: where the class names came from (a file), or `None`.
        part: the part of the folder that was scored: `"train"` (the whole
            folder when it has no split folders), `"val"` or `"test"`.

    Returns:
        `(report_md, report_json, figures)`.
    """
    from transfer_keras import __version__, plots  # figures only when a report is written

    figures = {"confusion_matrix.png": plots.plot_confusion_matrix(evaluation)}
    report_json = {
        "command": "evaluate", "version": __version__, "model": str(model_path),
        "data_dir": str(data.report.root), "class_names": list(evaluation.class_names),
        "class_names_from": class_names_from, "accuracy": evaluation.accuracy,
        "scored_part": part, "data": data.report.to_dict(), "evaluation": evaluation.to_dict(),
    }
    report_md = "\n".join([
        f"# transfer-keras evaluate: {Path(model_path).name} on {data.report.root.name}",
        "",
        data.report.table().to_markdown(),
        "",
        f"Scored: the {part} part ({len(evaluation.y_true)} images)."
        if part != "train" else "Scored: every image of the folder.",
        "",
        evaluation.to_markdown(),
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ])
    return report_md, report_json, figures
