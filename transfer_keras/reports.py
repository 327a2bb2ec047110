"""Output folders: report.md, report.json, figures and the model, written once.

`write_outputs` is the one writer every command uses: the model first, then
the figures, then the reports, each atomically, so a crash can leave a model
without its report but never a report that describes a model that was not saved.
"""

import json
from pathlib import Path

import numpy as np

from transfer_keras._files import atomic_path, write_text_atomically
from transfer_keras.models import save_model

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
        f"- Backbone: `{settings['backbone']}` {settings['backbone_kwargs']}, "
        f"weights {settings['weights']}.",
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
