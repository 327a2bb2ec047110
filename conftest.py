"""The names the library's docstring examples use, so that they run as written.

`pytest --doctest-modules transfer_keras` (part of the test command) runs every
`>>>` example in the library. The examples tell one story, the kit's ants/bees
photos: this file gives them the objects a reader would have made by then
(`model`, `train_ds`, `images`, `history`, `report`, ...), small enough to be
quick, and runs each example in a fresh folder holding the files they name
(`hymenoptera_data/`, `bee.jpg`, `ants_bees.keras`).
"""

import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import transfer_keras as tk  # noqa: E402

tk.import_tensorflow_quietly()  # first: TensorFlow without its C++ start-up lines
import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

matplotlib.use("Agg")

SIZE = 128  # pixels per side, as in the demo (`kit.load_example_photos`)


@pytest.fixture(scope="session")
def _story(tmp_path_factory):
    """The objects the examples assume, made once per test session."""
    from transfer_keras import baselines, kit, plots

    keras.utils.set_random_seed(0)
    data = kit.load_example_photos(image_size=SIZE)
    arrays = {name: tk.dataset_to_arrays(ds) for name, ds in
              (("train", data.train_ds), ("val", data.val_ds), ("test", data.test_ds))}
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = arrays.values()
    path = kit.example_weights()
    model = tk.build_classifier("mobilenet", 2, input_shape=(SIZE, SIZE, 3), weights=path, alpha=0.25)
    history = tk.train_head(model, data.train_ds, data.val_ds, epochs=3, verbose=0)
    report = tk.evaluate_classifier(model, data.test_ds, class_names=data.class_names)
    features = [tk.extract_features(model, ds)[0]
                for ds in (data.train_ds, data.val_ds, data.test_ds)]
    files = tmp_path_factory.mktemp("doctest_files")
    tk.save_model(model, files / "ants_bees.keras", class_names=data.class_names)
    bee = next((kit.example_photos_folder() / "test" / "bees").glob("*.jpg"))
    shutil.copy(bee, files / "bee.jpg")
    names = {name: getattr(tk, name) for name in tk.__all__}
    names.update({name: getattr(plots, name) for name in plots.__all__})
    names.update({name: getattr(baselines, name) for name in (
        "majority_baseline", "pixels_logistic", "logistic_regression", "pooled_features",
        "linear_probe", "build_small_cnn")})
    names.update(
        tk=tk, keras=keras, np=np, tf=tf, kit=kit, path=path, class_names=data.class_names,
        # Two batches to train on and one to validate keep the training examples quick.
        train_ds=data.train_ds.take(2), val_ds=data.val_ds.take(1), test_ds=data.test_ds,
        src_train=data.train_ds.take(2), src_val=data.val_ds.take(1),
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
        x_test=x_test, y_test=y_test, x=x_train, y=y_train,
        images=x_test, labels=y_test, f_train=features[0], f_val=features[1],
        f_test=features[2], history=history, report=report, frozen_report=report,
        tuned_report=report,
    )
    return names, files, model


@pytest.fixture(autouse=True)
def _doctest_story(request, doctest_namespace, tmp_path, monkeypatch):
    """For a docstring example: the story's names, and a fresh folder with its files."""
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    names, files, model = request.getfixturevalue("_story")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    for file in files.iterdir():
        shutil.copy(file, tmp_path / file.name)
    (tmp_path / "hymenoptera_data").symlink_to(tk.kit.example_photos_folder())
    doctest_namespace.update(names)
    if any("model" in example.source for example in request.node.dtest.examples):
        fresh = keras.models.clone_model(model)  # each example gets its own trained copy
        fresh.set_weights(model.get_weights())
        doctest_namespace["model"] = fresh
    else:  # (a copy takes a second; an example that never says `model` needs none)
        doctest_namespace.pop("model", None)
    keras.utils.set_random_seed(0)
    yield
