"""The classifier layout lives in one module (`transfer_keras.layout`)."""

import ast
from pathlib import Path

import keras
import pytest

import transfer_keras as tk
from transfer_keras import layout

PACKAGE = Path(tk.__file__).parent


def _classifier(**kwargs):
    return tk.build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25,
                               **kwargs)


def test_parts_of_a_classifier_with_augmentation_and_hidden_layers():
    model = _classifier(augmentation=tk.build_augmentation(), hidden_units=(8,))
    parts = layout.classifier_parts(model)
    inputs, backbone, head = parts.inputs, parts.backbone, parts.head
    assert [layer.name for layer in inputs] == ["augmentation", "preprocessing"]
    assert backbone is model.get_layer("backbone")
    assert [layer.name for layer in head] == ["pooling", "dropout_1", "hidden_1",
                                               "dropout", "predictions"]
    assert [layer.name for layer in layout.inference_inputs(model)] == ["preprocessing"]
    assert layout.augmentation_of(model) is model.get_layer("augmentation")
    assert layout.predictions_of(model).units == 3
    assert layout.pooling_of(model) is head[0]


def test_parts_without_augmentation():
    model = _classifier()
    assert layout.augmentation_of(model) is None
    assert layout.find_predictions(model) is model.get_layer("predictions")


def test_a_model_not_from_build_classifier_gets_a_clear_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs), name="mine")
    with pytest.raises(ValueError, match=r"'mine' has no layer named 'backbone'.*"
                                         r"build_classifier\(\)"):
        layout.classifier_parts(model)
    with pytest.raises(ValueError, match="no layer named 'predictions'.*its layers: "):
        layout.predictions_of(model)
    assert layout.find_predictions(model) is None
    with pytest.raises(ValueError, match="no layer named 'backbone'"):
        tk.freeze_backbone(model)


def test_freezing_training_and_evaluation_use_the_layout():
    """A classifier whose parts have other names is found through `layout` only."""
    model = _classifier()
    tk.freeze_backbone(model)
    assert not layout.backbone_of(model).trainable
    tk.unfreeze_backbone(model, num_layers=5)
    assert layout.backbone_of(model).trainable


def _layer_name_literals(path):
    """String literals in `path` passed to `get_layer(...)` or `name=...`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            args = list(node.args)
            if getattr(node.func, "attr", None) == "get_layer":
                found += [a.value for a in args if isinstance(a, ast.Constant)]
            found += [k.value.value for k in node.keywords
                      if k.arg == "name" and isinstance(k.value, ast.Constant)]
    return found


def test_part_names_are_spelled_only_in_the_layout_module():
    """A change to the layout is one change: no other module spells a part's name."""
    parts = {layout.AUGMENTATION, layout.PREPROCESSING, layout.BACKBONE, layout.POOLING,
             layout.DROPOUT, layout.PREDICTIONS}
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "layout.py":
            continue
        spelled = parts.intersection(_layer_name_literals(path))
        if spelled:
            offenders[str(path.relative_to(PACKAGE))] = sorted(spelled)
    assert offenders == {}
