"""The `transfer-keras` parser: it answers before TensorFlow is imported, its copies of
library constants are right, errors name their flags, and the package's functions are short."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

import transfer_keras.cli as cli
from transfer_keras.cli import main, output, parser
from transfer_keras.errors import ArgumentValueError, UsageError, WeightsUnavailableError

PACKAGE = pathlib.Path(cli.__file__).parent.parent  # transfer_keras/

# Runs `python -m transfer_keras.cli ARGS` and reports, on its last line of stdout,
# the exit code and whether TensorFlow or Keras were imported. With STUB, the package
# `transfer_keras` is an empty module object, so its `__init__` (which may import
# TensorFlow itself) is not run: what is measured is the command line alone.
PROBE = """
import json, runpy, sys, types
if {stub}:
    package = types.ModuleType("transfer_keras")
    package.__path__ = [{package!r}]
    package.__version__ = "0"
    sys.modules["transfer_keras"] = package
sys.argv = ["transfer-keras", *{args!r}]
code = 0
try:
    runpy.run_module("transfer_keras.cli", run_name="__main__", alter_sys=True)
except SystemExit as exit_info:
    code = exit_info.code
loaded = sorted(name for name in ("tensorflow", "keras") if name in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded}}))
"""

QUICK_ANSWERS = [
    (["--help"], 0),
    (["train", "--help"], 0),
    (["train", "photos", "--out", "run", "--epochs", "0"], 2),
    (["train", "photos", "--out", "run", "--fine-tune-epochs", "-1"], 2),
    (["train", "photos", "--out", "run", "--backbone", "alexnet"], 2),
    (["train", "photos", "--out", "run", "--backbone", "resnet50v2", "--alpha", "0.5"], 2),
    (["predict", "model.keras", "photo.jpg", "--top-k", "0"], 2),
    (["prefetch"], 2),
]


def _probe(args, stub):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(stub=stub, package=str(PACKAGE), args=args)],
        capture_output=True, text=True, timeout=120)
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result


@pytest.mark.parametrize("args, code", QUICK_ANSWERS)
def test_help_and_mistakes_answer_before_tensorflow_is_imported(args, code):
    report, result = _probe(args, stub=True)
    assert report == {"code": code, "loaded": []}, result.stderr
    assert "Traceback" not in result.stderr


def test_python_m_help_imports_no_tensorflow_once_the_package_imports_lazily():
    check = subprocess.run([sys.executable, "-c", "import sys, transfer_keras; "
                            "print('tensorflow' in sys.modules)"],
                           capture_output=True, text=True, timeout=120)
    if check.stdout.strip() != "False":
        pytest.skip("transfer_keras/__init__.py imports TensorFlow itself (not lazy yet)")
    for args, code in QUICK_ANSWERS[:3]:
        report, result = _probe(args, stub=False)
        assert report == {"code": code, "loaded": []}, result.stderr


def test_the_parser_module_imports_no_tensorflow():
    tree = ast.parse(pathlib.Path(parser.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"argparse", "pathlib", "transfer_keras", "transfer_keras._checks",
                        "transfer_keras.errors"}, imported


def test_ctrl_c_while_tensorflow_starts_exits_130_without_traceback(monkeypatch, capsys):
    import transfer_keras._quiet

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(transfer_keras._quiet, "import_tensorflow_quietly", interrupted)
    assert main(["backbones"]) == 130
    error = capsys.readouterr().err
    assert error.strip() == "error: interrupted (Ctrl-C)"


def test_quick_mistakes_print_one_error_line(capsys):
    assert main(["train", "photos", "--out", "run", "--epochs", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --epochs must be 1 or more; received 0.")
    assert len(error.strip().splitlines()) == 1


def test_copied_constants_equal_the_library_s():
    from transfer_keras import reports, showcase, stages
    from transfer_keras.backbones import BACKBONES

    assert parser.BACKBONE_NAMES == tuple(BACKBONES)
    assert parser.ALPHA_BACKBONES == tuple(name for name, spec in BACKBONES.items()
                                           if "alpha" in spec.kwargs)
    assert parser.LARGEST_IMAGENET_SIZE == max(spec.default_size for spec in
                                               BACKBONES.values())
    assert parser.DEFAULT_HEAD_EPOCHS == stages.DEFAULT_HEAD_EPOCHS
    assert parser.DEFAULT_FINE_TUNE_EPOCHS == stages.DEFAULT_FINE_TUNE_EPOCHS
    assert parser.DEFAULT_FINE_TUNE_EXTENT == reports.fine_tune_extent(None)
    assert parser.SHOWCASE_BACKBONE == showcase.SHOWCASE_BACKBONE
    assert parser.SHOWCASE_IMAGE_SIZE == showcase.SHOWCASE_IMAGE_SIZE
    assert parser.SHOWCASE_CURVE == showcase.SHOWCASE_CURVE


@pytest.mark.parametrize("typed, name", [("MobileNetV2", "mobilenetv2"),
                                         ("efficientnet-lite0", "efficientnet_lite0"),
                                         ("EfficientNetLite0", "efficientnet_lite0")])
def test_backbone_names_are_spelled_as_the_library_spells_them(typed, name):
    from transfer_keras.backbones import get_backbone_spec

    assert parser.backbone_name(typed) == name == get_backbone_spec(typed).name


@pytest.mark.parametrize("argument, flag", [("image_size", "--image-size"),
                                            ("input_shape", "--image-size"),
                                            ("weights", "--weights"), ("alpha", "--alpha"),
                                            ("labels_per_class", "--curve"),
                                            ("seeds", "--seeds"), ("epochs", "--epochs")])
def test_library_errors_are_shown_with_the_flag_of_their_argument(argument, flag):
    error = ArgumentValueError(f"`{argument}` is wrong; received 0.", argument=argument)
    assert output.error_message(error) == f"{flag}: `{argument}` is wrong; received 0."


def test_errors_without_a_known_argument_are_shown_as_they_are():
    assert output.error_message(ArgumentValueError("bad", argument="learning_rate")) == "bad"
    assert output.error_message(UsageError("--top-k must be 1 or more")) == \
        "--top-k must be 1 or more"
    unavailable = WeightsUnavailableError("no weights here", argument="weights")  # as backbones
    assert output.error_message(unavailable) == "--weights: no weights here"


def test_no_cli_function_is_longer_than_60_lines():
    lengths = {}
    for path in sorted(pathlib.Path(cli.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lengths.update({f"{path.name}:{node.name}": node.end_lineno - node.lineno + 1
                        for node in ast.walk(tree)
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))})
    assert len(lengths) > 30 and max(lengths.values()) <= 60, {
        name: length for name, length in lengths.items() if length > 60}


def test_no_cli_spelling_rewrites_library_messages():
    for path in pathlib.Path(cli.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "_CLI_SPELLING" not in text and "import re\n" not in text, path.name


def test_the_console_script_and_python_m_reach_main():
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'transfer-keras = "transfer_keras.cli:main"' in pyproject
    assert '"transfer_keras.cli",' in pyproject  # the package goes into the wheel
    assert (PACKAGE / "cli" / "__main__.py").is_file()
    assert cli.main is main and callable(cli.build_parser)
