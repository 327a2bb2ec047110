"""The package keeps the shape ../shared/DESIGN.md gives it (issue 30).

- every public function's optional arguments are keyword-only (after the data
  arguments: only datasets such as `val_ds` may stay positional);
- no module imports another module's private name;
- no module is over 600 lines;
- imports run one way: no module imports one from a higher layer.
These read the source and the signatures only: fast, and no TensorFlow needed
for the source checks.
"""

import ast
import inspect
from pathlib import Path

import pytest

import transfer_keras as tk

PACKAGE = Path(tk.__file__).resolve().parent
MODULES = sorted(path for path in PACKAGE.rglob("*.py"))
POSITIONAL_DATA_ARGUMENTS = {"val_ds", "source_val"}  # datasets, named like the data arguments
MAX_MODULE_LINES = 600

# DESIGN.md's layers, top to bottom; a module may import its own layer or lower ones.
LAYERS = [
    {"cli"},
    {"experiments", "showcase", "reports", "baselines"},
    {"training", "lr_finder", "scratch", "evaluation", "interpret", "plots", "features",
     "callbacks", "layer_rates", "stages", "inference"},
    {"models", "freezing", "layout", "backbones", "efficientnet_lite", "kit", "data"},
    {"_checks", "_files", "_keras_compat", "_quiet", "_table", "_pth", "errors"},
]


def _module_name(path):
    """`transfer_keras/data/folders.py` -> `data.folders`; a package's `__init__` -> its name."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module):
    top = module.split(".")[0]
    for depth, members in enumerate(LAYERS):
        if top in members:
            return depth
    return None


def _imports(path):
    """(module imported from, names) for every `from transfer_keras... import ...`."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "transfer_keras" or node.module.startswith("transfer_keras.")):
            yield node.module[len("transfer_keras."):], [alias.name for alias in node.names]


def _public_functions():
    for name in tk.__all__:
        value = getattr(tk, name)
        if inspect.isfunction(value):
            yield name, value


@pytest.mark.parametrize("name, function", list(_public_functions()),
                         ids=[name for name, _ in _public_functions()])
def test_optional_arguments_are_keyword_only(name, function):
    positional_optional = [
        parameter.name for parameter in inspect.signature(function).parameters.values()
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        and parameter.default is not inspect.Parameter.empty
        and parameter.name not in POSITIONAL_DATA_ARGUMENTS]
    assert positional_optional == [], (
        f"tk.{name}: {positional_optional} can be given by position; put them after `*`")


def test_the_walk_sees_the_public_functions():
    names = {name for name, _ in _public_functions()}
    assert {"train_two_stage", "build_classifier", "evaluate_classifier",
            "load_image_folder"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path) or "__init__")
def test_no_module_imports_another_modules_private_name(path):
    private = [f"{module}.{name}" for module, names in _imports(path) for name in names
               if name.startswith("_") and not name.startswith("__")
               and not (module == "" and name in {
                   "_checks", "_files", "_keras_compat", "_quiet", "_table", "_pth"})]
    assert private == [], f"{_module_name(path)} imports private names {private}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path) or "__init__")
def test_no_module_is_over_600_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_module_name(path)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path) or "__init__")
def test_imports_run_one_way(path):
    importer = _module_name(path)
    here = _layer(importer)
    if here is None:  # the package's __init__ re-exports everything
        return
    upward = []
    for module, names in _imports(path):
        targets = [module] if module else names  # `from transfer_keras import x, y`
        for target in targets:
            there = _layer(target)
            if there is not None and there < here:
                upward.append(target)
    assert upward == [], f"{importer} imports from higher layers: {upward}"
