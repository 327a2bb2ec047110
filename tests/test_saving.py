"""Saved models are self-contained: built-in Keras layers only, class names inside."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pytest

import transfer_keras as tk
from transfer_keras.models import MODEL_METADATA_FILE, backbone_name

CLASS_NAMES = ["cat", "dog", "fox"]


def _model(num_classes=3, **kwargs):
    return tk.build_classifier("mobilenet", num_classes, input_shape=(32, 32, 3), weights=None,
                               alpha=0.25, **kwargs)


def _pixels(n=4, size=32):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _metadata(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(MODEL_METADATA_FILE))


def _tiny_model_around(preprocessing):
    """Pixels -> preprocessing -> a small head: one file per preprocessing mode."""
    pixels = keras.Input((8, 8, 3))
    features = keras.layers.GlobalAveragePooling2D()(preprocessing(pixels))
    return keras.Model(pixels, keras.layers.Dense(2, activation="softmax")(features))


def test_saved_model_loads_with_plain_keras_without_transfer_keras(tmp_path):
    model = _model(hidden_units=(8,), augmentation=tk.build_augmentation(seed=0))
    tk.save_model(model, tmp_path / "classifier.keras", class_names=CLASS_NAMES)
    pixels = _pixels()
    np.save(tmp_path / "classifier.npy", pixels)
    expected = {"classifier": model.predict(pixels, verbose=0)}
    # One more file for each preprocessing mode of the table ("tf" is above).
    for name in ("densenet121", "efficientnetb0"):
        tiny = _tiny_model_around(tk.build_preprocessing(name))
        tk.save_model(tiny, tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", _pixels(size=8))
        expected[name] = tiny.predict(_pixels(size=8), verbose=0)

    script = textwrap.dedent(f"""
        import sys
        sys.modules["transfer_keras"] = None  # `import transfer_keras` now fails
        import json, zipfile
        import keras, numpy as np
        folder = {str(tmp_path)!r}
        for name in {sorted(expected)!r}:
            model = keras.saving.load_model(f"{{folder}}/{{name}}.keras", safe_mode=True)
            pixels = np.load(f"{{folder}}/{{name}}.npy")
            np.save(f"{{folder}}/{{name}}_out.npy", model.predict(pixels, verbose=0))
        with zipfile.ZipFile(f"{{folder}}/classifier.keras") as archive:
            print(json.loads(archive.read("transfer_keras.json"))["class_names"])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(CLASS_NAMES)
    for name, outputs in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{name}_out.npy"), outputs,
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_class_names_travel_inside_the_file(tmp_path):
    model = _model()
    path = tk.save_model(model, tmp_path / "model.keras", class_names=tuple(CLASS_NAMES))
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]  # nothing beside, no temp file
    assert _metadata(path) == {"class_names": CLASS_NAMES, "backbone": "mobilenet",
                               "image_size": [32, 32],
                               "transfer_keras_version": tk.__version__}
    assert tk.load_class_names(path) == CLASS_NAMES

    loaded = tk.load_model(path, compile=False)
    assert backbone_name(loaded) == "mobilenet"
    np.testing.assert_allclose(loaded.predict(_pixels(), verbose=0),
                               model.predict(_pixels(), verbose=0), rtol=1e-6)

    # Saved again with the names read back, it holds them again.
    again = tk.save_model(loaded, tmp_path / "again.keras", class_names=tk.load_class_names(path))
    assert tk.load_class_names(again) == CLASS_NAMES


def test_class_names_are_passed_and_read_back_not_attached(tmp_path):
    model = _model()
    unnamed = tk.save_model(model, tmp_path / "unnamed.keras")
    assert _metadata(unnamed)["class_names"] is None
    assert tk.load_class_names(unnamed) is None
    loaded = tk.load_model(unnamed, compile=False)
    assert not hasattr(loaded, "class_names")  # nothing attached to Keras's object

    model.class_names = ["a", "b", "c"]  # a user's attribute is not read: names are passed
    assert tk.load_class_names(tk.save_model(model, tmp_path / "m.keras")) is None
    named = tk.save_model(model, tmp_path / "o.keras", class_names=["x", "y", "z"])
    assert tk.load_class_names(named) == ["x", "y", "z"]


def test_single_sigmoid_unit_takes_two_class_names(tmp_path):
    model = _model(num_classes=1)
    path = tk.save_model(model, tmp_path / "binary.keras", class_names=["no", "yes"])
    assert tk.load_class_names(path) == ["no", "yes"]
    with pytest.raises(ValueError, match="predicts 2 classes"):
        tk.save_model(model, tmp_path / "bad.keras", class_names=["yes"])


@pytest.mark.parametrize(
    "class_names, match",
    [
        ("cat dog fox", r"`class_names` must be a list of 3 .*received 'cat dog fox'"),
        ({"cat": 0}, r"`class_names` must be a list"),
        (["cat", "dog"], r"`class_names` has 2 name\(s\) but the model predicts 3"),
        (["cat", "dog", "fox", "owl"], r"has 4 name\(s\)"),
        (["cat", 1, "fox"], r"`class_names` must hold str only; received 1 of type int"),
        (["cat", "dog", "cat"], r"`class_names` must be different.*'cat'"),
    ],
)
def test_bad_class_names_raise_before_writing(class_names, match, tmp_path):
    path = tmp_path / "model.keras"
    with pytest.raises(ValueError, match=match):
        tk.save_model(_model(), path, class_names=class_names)
    assert not path.exists()


def _copy_with_metadata(path, new_path, text):
    """Copies a .keras file with its transfer_keras.json member replaced by `text`."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(new_path, "w") as target:
        for item in source.infolist():
            is_metadata = item.filename == MODEL_METADATA_FILE
            target.writestr(item, text if is_metadata else source.read(item))
    return new_path


def test_damaged_or_mismatched_metadata_is_reported(tmp_path):
    path = tk.save_model(_model(), tmp_path / "model.keras", class_names=CLASS_NAMES)
    edited = _copy_with_metadata(path, tmp_path / "edited.keras",
                                 json.dumps({"class_names": ["only one"]}))
    with pytest.raises(ValueError, match="edited.keras.*do not fit.*has 1 name"):
        tk.load_model(edited)
    damaged = _copy_with_metadata(path, tmp_path / "damaged.keras", "not json")
    with pytest.raises(ValueError, match="damaged.keras.*damaged transfer_keras.json"):
        tk.load_class_names(damaged)


def test_a_model_saved_before_any_fit_loads_without_optimizer_warnings(tmp_path):
    """A checkpoint of stage 1 holds the full model, whose optimizer never stepped
    (only the head trained). Keras warns when loading such a file ("Skipping
    variable loading for optimizer"); `save_model` builds the optimizer first."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tk.save_model(model, tmp_path / "unfitted.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = tk.load_model(path)
    assert [str(w.message) for w in caught] == []
    assert loaded.optimizer.built and len(loaded.optimizer.variables) == len(
        model.optimizer.variables)
    assert all(not np.any(v) for v in loaded.optimizer.variables[2:])  # zero slots
