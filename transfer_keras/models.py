"""`build_classifier`: a pretrained backbone with a new task-specific head.

The model takes raw pixels in [0, 255] and holds its own preprocessing:

    pixels -> [augmentation] -> preprocessing -> backbone(training=False)
           -> pooling -> [dropout] -> [hidden_1 ...] -> predictions

Every part is a named layer; `transfer_keras.layout` is the one module that
knows the names and finds the parts (`layout.backbone_of(model)`, ...). The
backbone starts frozen. A saved model therefore needs no extra code at inference time,
and the classic `preprocess_input` mismatch cannot happen.

Self-contained files: the preprocessing is made of Keras's built-in layers
(`build_preprocessing`), so a `.keras` file loads with plain
`keras.saving.load_model`, without this library; and `save_model` stores the
class names inside the file (`load_model` gives them back as
`model.class_names`).

Head convention: `num_classes` is the number of classes. With 2 or more the
head is `num_classes` softmax units (labels are integers `0..num_classes-1`);
this is the default for binary tasks too (`num_classes=2`). `num_classes=1`
gives a single sigmoid unit that outputs P(class 1), for users who prefer the
classic binary head; the library's training and evaluation handle both.
"""

import contextlib
import json
import zipfile
from pathlib import Path

import keras

from transfer_keras._checks import (
    check_choice,
    check_fraction,
    check_seed,
    check_whole_number,
    is_one_of,
    is_whole_number,
)
from transfer_keras import layout
from transfer_keras._files import atomic_path
from transfer_keras.backbones import (
    BACKBONES,
    build_backbone,
    check_input_shape,
    get_backbone_spec,
)
from transfer_keras.evaluation import num_classes_of
from transfer_keras.layout import head_layers  # noqa: F401  (its home before `layout`)

AUGMENTATION_LAYER = layout.AUGMENTATION  # kept for code written against earlier versions
POOLINGS = ("avg", "max")
MODEL_METADATA_FILE = "transfer_keras.json"  # the library's member inside a .keras zip

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # of [0, 1] RGB pixels ("torch" mode)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Each preprocessing mode of the `BACKBONES` table, written with Keras's
# built-in layers only (so a saved model loads without this library).
PREPROCESSING_LAYERS = {
    # [0, 255] -> [-1, 1]: x / 127.5 - 1
    "tf": lambda: [keras.layers.Rescaling(1 / 127.5, offset=-1)],
    # [0, 255] -> [0, 1], then (x - mean) / std per channel
    "torch": lambda: [
        keras.layers.Rescaling(1 / 255),
        keras.layers.Normalization(mean=IMAGENET_MEAN,
                                   variance=[std**2 for std in IMAGENET_STD]),
    ],
    # [0, 255] -> (x - 127) / 128 (EfficientNet-Lite)
    "lite": lambda: [keras.layers.Rescaling(1 / 128, offset=-127 / 128)],
    # the backbone holds its own preprocessing: pass the pixels through
    "none": lambda: [keras.layers.Identity()],
}


def build_preprocessing(backbone):
    """Builds a backbone's `preprocess_input` from Keras's built-in layers.

    The layers follow the row's `preprocessing` mode in `BACKBONES` and compute
    the same numbers as the backbone's own `preprocess_input` (the tests check
    every row). Being built-in, they save and load with plain Keras in safe mode.

    Args:
        backbone: a backbone name from `BACKBONES`, e.g. `"mobilenetv2"`.

    Returns:
        A `keras.Sequential` named `"preprocessing"`, mapping raw [0, 255] RGB
        pixels to the backbone's input range.

    Raises:
        ValueError: unknown backbone.

    Example:
    >>> preprocessing = build_preprocessing("mobilenetv2")
    >>> keras.ops.convert_to_numpy(preprocessing(np.array([[[[0.0, 127.5, 255.0]]]]))).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """
    spec = get_backbone_spec(backbone)
    return keras.Sequential(PREPROCESSING_LAYERS[spec.preprocessing](),
                            name=layout.PREPROCESSING)


@keras.saving.register_keras_serializable(package="transfer_keras")
class BackbonePreprocessing(keras.layers.Layer):
    """Applies a backbone's own `preprocess_input` to raw [0, 255] RGB pixels.

    Kept so that models saved by earlier versions of this library still load
    (with `transfer_keras` imported). New models use `build_preprocessing`,
    made of Keras's built-in layers, whose files load with plain Keras.

    Args:
        backbone_name: a name from `BACKBONES`.
    """

    def __init__(self, backbone_name, **kwargs):
        kwargs.setdefault("name", layout.PREPROCESSING)
        super().__init__(**kwargs)
        self.backbone_name = get_backbone_spec(backbone_name).name

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        return get_backbone_spec(self.backbone_name).preprocess(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "backbone_name": self.backbone_name}


@contextlib.contextmanager
def precision_policy(mixed_precision):
    """Builds layers under `mixed_float16` when `mixed_precision` is True, then restores."""
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _check_num_classes(num_classes, classifier_activation):
    """Returns `(num_classes, classifier_activation)`, checked; one unit gets a sigmoid."""
    num_classes = check_whole_number(
        num_classes, "num_classes",
        hint="Use the number of classes (2 for a binary task; 1 means a single sigmoid unit).")
    if classifier_activation is None:
        return num_classes, None
    if classifier_activation == "softmax" and num_classes == 1:
        return num_classes, "sigmoid"  # one unit: softmax would always output 1.0
    if not is_one_of(classifier_activation, ("softmax", "sigmoid")):
        raise ValueError(
            f"`classifier_activation` must be 'softmax', 'sigmoid' or None (logits); "
            f"received {classifier_activation!r}."
        )
    return num_classes, classifier_activation


def build_head(features, num_classes, hidden_units=(), dropout=0.5, pooling="avg",
               classifier_activation="softmax"):
    """Adds the task-specific head to a 4-D feature map tensor.

    Args:
        features: a symbolic 4-D tensor (the backbone's output).
        num_classes: number of classes (see the module docstring).
        hidden_units: sizes of optional hidden Dense layers. Defaults to `()`.
        dropout: dropout rate before each Dense layer, 0 for none. Defaults to `0.5`.
        pooling: `"avg"` or `"max"` global pooling. Defaults to `"avg"`.
        classifier_activation: `"softmax"`, `"sigmoid"` or `None` for logits.
            Defaults to `"softmax"`.

    Returns:
        The output tensor of the layer named `"predictions"` (always float32).

    Raises:
        ValueError: `features` is not 4-D, `num_classes < 1`, or a bad `hidden_units`,
            `dropout`, `pooling` or `classifier_activation`.

    Example:
    >>> features = keras.Input((7, 7, 1280))
    >>> build_head(features, 3, pooling="max").shape
    (None, 3)
    """
    shape = getattr(features, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"`features` must be a 4-D feature map (batch, height, width, channels), such "
            f"as a backbone's output; received shape {shape}. build_head adds the pooling."
        )
    num_classes, classifier_activation = _check_num_classes(num_classes, classifier_activation)
    hidden_units, dropout = _check_head_args(hidden_units, dropout, pooling)
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name=layout.POOLING)(features)
    else:
        x = keras.layers.GlobalMaxPooling2D(name=layout.POOLING)(features)
    for index, units in enumerate(hidden_units, start=1):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{index}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=layout.DROPOUT)(x)
    return keras.layers.Dense(
        num_classes, activation=classifier_activation, name=layout.PREDICTIONS, dtype="float32"
    )(x)


def _check_head_args(hidden_units, dropout, pooling):
    """Returns `(hidden_units, dropout)` as a tuple of ints and a float, checked."""
    check_choice(pooling, "pooling", POOLINGS)
    dropout = check_fraction(dropout, "dropout", "[0, 1)", what="a rate")
    units = tuple(hidden_units or ())
    if not all(is_whole_number(u) and u > 0 for u in units):
        raise ValueError(
            f"`hidden_units` must be positive whole numbers, e.g. (256,); received "
            f"{hidden_units!r}."
        )
    return tuple(int(u) for u in units), dropout


def build_classifier(backbone, num_classes, input_shape=None, weights="imagenet",
                     hidden_units=(), dropout=0.5, pooling="avg", augmentation=None,
                     classifier_activation="softmax", mixed_precision=False,
                     strategy=None, **backbone_kwargs):
    """Builds a transfer-learning classifier: frozen pretrained backbone + new head.

    Args:
        backbone: a backbone name from `BACKBONES`, e.g. `"mobilenetv2"`.
        num_classes: number of classes; 2+ gives a softmax head, 1 a sigmoid unit.
        input_shape: `(height, width, 3)` of the raw images. Defaults to `None`
            (the backbone's ImageNet size).
        weights: `"imagenet"`, `None` or a weights file path. Defaults to `"imagenet"`.
        hidden_units: sizes of hidden Dense layers in the head. Defaults to `()`.
        dropout: dropout rate in the head. Defaults to `0.5` (measured best on a
            few hundred photos; see `benchmarks/README.md`).
        pooling: `"avg"` or `"max"`. Defaults to `"avg"`.
        augmentation: a Keras layer (e.g. from `build_augmentation`) applied to
            the raw pixels; active only in training. The model holds it as the
            layer named `"augmentation"`: a layer with another name is wrapped in
            a `keras.Sequential` of that name, never renamed. Defaults to `None`.
        classifier_activation: `"softmax"`, `"sigmoid"` or `None`. Defaults to `"softmax"`.
        mixed_precision: build in `mixed_float16` (the `predictions` layer stays
            float32). Worth it on GPUs/TPUs, not on CPUs. Defaults to `False`.
        strategy: a `tf.distribute.Strategy` whose scope the model is built in.
            Defaults to `None` (the current/default strategy).
        **backbone_kwargs: extra backbone constructor arguments (e.g. `alpha=0.25`).

    Returns:
        A functional `keras.Model` taking raw pixels in [0, 255], backbone frozen.

    Raises:
        ValueError: unknown backbone, `num_classes < 1`, bad input shape or head
            arguments, missing weights file.
        WeightsUnavailableError: ImageNet weights unavailable offline.

    Example:
    >>> model = build_classifier("mobilenet", 3, (32, 32, 3), weights=None, alpha=0.25)
    >>> model.get_layer("backbone").trainable
    False
    """
    return _assemble(backbone, num_classes, input_shape, weights, hidden_units, dropout,
                     pooling, augmentation, classifier_activation, mixed_precision,
                     strategy, backbone_kwargs, from_scratch=False)


def build_scratch_classifier(backbone, num_classes, input_shape=None, hidden_units=(),
                             dropout=0.2, pooling="avg", augmentation=None,
                             classifier_activation="softmax", mixed_precision=False,
                             strategy=None, **backbone_kwargs):
    """Builds the same architecture with random weights, everything trainable.

    The baseline transfer learning is measured against, and the model
    `pretrain_source` trains. Unlike `build_classifier`, the backbone is called
    without `training=False`, so its BatchNorm layers learn their statistics.

    Args:
        backbone: a backbone name from `BACKBONES`.
        num_classes: number of classes (see `build_classifier`).
        input_shape: `(height, width, 3)`. Defaults to `None` (ImageNet size).
        hidden_units, dropout, pooling, augmentation, classifier_activation,
        mixed_precision, strategy: as in `build_classifier`.
        **backbone_kwargs: extra backbone constructor arguments.

    Returns:
        A functional `keras.Model` taking raw pixels, all layers trainable.

    Example:
    >>> model = build_scratch_classifier("mobilenet", 5, (32, 32, 3), alpha=0.25)
    """
    return _assemble(backbone, num_classes, input_shape, None, hidden_units, dropout,
                     pooling, augmentation, classifier_activation, mixed_precision,
                     strategy, backbone_kwargs, from_scratch=True)


def _assemble(backbone, num_classes, input_shape, weights, hidden_units, dropout,
              pooling, augmentation, classifier_activation, mixed_precision, strategy,
              backbone_kwargs, from_scratch):
    """Checks every argument, then wires pixels -> [augmentation] -> preprocessing
    -> backbone -> head."""
    spec = get_backbone_spec(backbone)
    input_shape = check_input_shape(spec, input_shape)
    num_classes, classifier_activation = _check_num_classes(num_classes, classifier_activation)
    hidden_units, dropout = _check_head_args(hidden_units, dropout, pooling)
    if augmentation is not None and not isinstance(augmentation, keras.layers.Layer):
        raise TypeError(
            f"`augmentation` must be a Keras layer (e.g. build_augmentation()); "
            f"received {type(augmentation).__name__}."
        )
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope, precision_policy(mixed_precision):
        backbone_model = build_backbone(spec.name, input_shape, weights=weights,
                                        **backbone_kwargs)
        backbone_model.trainable = from_scratch
        if from_scratch:
            _settle_batchnorm_faster(backbone_model)
        inputs = keras.Input(shape=input_shape, name="pixels")
        x = inputs
        if augmentation is not None:
            if augmentation.name != layout.AUGMENTATION:  # the caller's layer keeps its name
                augmentation = keras.Sequential([augmentation], name=layout.AUGMENTATION)
            x = augmentation(x)
        x = build_preprocessing(spec.name)(x)
        if from_scratch:
            features = backbone_model(x)  # BatchNorm learns: training follows fit()
        else:
            # training=False keeps BatchNorm in inference mode even after
            # unfreezing, so fine-tuning cannot wreck the pretrained statistics.
            features = backbone_model(x, training=False)
        outputs = build_head(features, num_classes, hidden_units, dropout, pooling,
                             classifier_activation)
        suffix = "scratch" if from_scratch else "classifier"
        return keras.Model(inputs, outputs, name=f"{spec.name}_{suffix}")


SCRATCH_BATCHNORM_MOMENTUM = 0.9


def _settle_batchnorm_faster(backbone_model):
    """Lets BatchNorm statistics follow a model trained from scratch within ~20 steps.

    `keras.applications` use momentum 0.99 (or 0.999): the running averages
    need hundreds of steps to catch up with fast-changing weights, and a small
    from-scratch model then predicts a single class at inference.
    """
    for layer in backbone_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BATCHNORM_MOMENTUM


def build_augmentation(flip=True, rotation=0.05, zoom=0.1, contrast=0.1, seed=None):
    """Builds a small random augmentation block for raw [0, 255] images.

    Active only during training (Keras preprocessing layers are no-ops at
    inference), so it can live inside the model.

    Args:
        flip: random horizontal flips. Defaults to `True`.
        rotation: max rotation as a fraction of a full turn, 0 for none. Defaults to `0.05`.
        zoom: max zoom fraction, 0 for none. Defaults to `0.1`.
        contrast: max contrast change, 0 for none. Defaults to `0.1`.
        seed: seed for reproducible augmentation. Defaults to `None`.

    Returns:
        A `keras.Sequential` named `"augmentation"`.
    """
    seed = check_seed(seed, allow_none=True)
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=seed))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(layers, name=layout.AUGMENTATION)


def backbone_name(model):
    """Returns the table name of the backbone inside a model from `build_classifier`.

    Read from the model's name, which `build_classifier` and
    `build_scratch_classifier` set to `"<backbone>_classifier"` or
    `"<backbone>_scratch"`: the name travels with the model into its `.keras`
    file, so this works for new models, loaded models and plain-Keras loads
    alike. Models saved by earlier versions answer through their
    `BackbonePreprocessing` layer.

    Args:
        model: a model from `build_classifier` or `build_scratch_classifier`
            (or loaded from their `.keras` file), not renamed.

    Returns:
        The backbone's name in `BACKBONES`, e.g. `"mobilenetv2"`.

    Raises:
        ValueError: the model's name does not start with a backbone name.

    Example:
    >>> backbone_name(build_classifier("mobilenet", 3, (32, 32, 3), weights=None))
    'mobilenet'
    """
    for layer in model.layers:
        if isinstance(layer, BackbonePreprocessing):  # saved by an earlier version
            return layer.backbone_name
    for name in sorted(BACKBONES, key=len, reverse=True):  # names may hold "_"
        if model.name.startswith(name + "_"):
            return name
    raise ValueError(
        f"Cannot tell the backbone of `model` {model.name!r}: its name should start "
        f"with a backbone name and '_' (e.g. 'mobilenetv2_classifier'), as "
        f"build_classifier() names it. Build it with build_classifier(), or give it "
        f"such a name."
    )


def _check_class_names(class_names, num_classes):
    """Returns `class_names` as a list of str, one per class, or raises ValueError."""
    if isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise ValueError(
            f"`class_names` must be a list of {num_classes} class names (str), in "
            f"label order; received {class_names!r}. Example: "
            f"{[f'class_{index}' for index in range(num_classes)]}."
        )
    not_text = [name for name in class_names if not isinstance(name, str)]
    if not_text:
        raise ValueError(
            f"`class_names` must hold str only; received {not_text[0]!r} of type "
            f"{type(not_text[0]).__name__} in {list(class_names)!r}. Convert them, "
            f"e.g. [str(name) for name in class_names]."
        )
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(class_names)} name(s) but the model predicts "
            f"{num_classes} classes; received {list(class_names)!r}. Give one name per "
            f"class, in label order."
        )
    repeated = sorted({name for name in class_names if class_names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"`class_names` must be different from each other; received "
            f"{list(class_names)!r}, where {', '.join(map(repr, repeated))} repeat(s)."
        )
    return [str(name) for name in class_names]


def _metadata(model, class_names):
    """The facts `save_model` stores in the `.keras` file beside Keras's own."""
    from transfer_keras import __version__  # (late: the package imports this module)

    try:
        backbone = backbone_name(model)
    except ValueError:
        backbone = None  # any Keras model can be saved
    shape = model.input_shape
    image_size = None  # (height, width) of a model of images of one size
    if isinstance(shape, tuple) and len(shape) == 4 and None not in shape[1:3]:
        image_size = [int(side) for side in shape[1:3]]
    return {"class_names": class_names, "backbone": backbone, "image_size": image_size,
            "transfer_keras_version": __version__}


def save_model(model, path, class_names=None):
    """Saves a model and its class names as one `.keras` file, atomically.

    The file is Keras's own format plus one small member, `transfer_keras.json`,
    holding the class names, the backbone's name, the image size and this
    library's version. Keras ignores that member, so the file loads with plain
    `keras.saving.load_model` (safe mode, without this library); `load_model`
    gives the class names back as `model.class_names`.

    The model is written to a temporary file in the same folder and renamed
    into place, so an interrupted save leaves the previous file (or none).

    Args:
        model: a Keras model.
        path: destination ending in `.keras`.
        class_names: the class names in label order, one per class (2 for a
            single sigmoid unit). Defaults to `None` (the model's own
            `class_names` attribute, e.g. from `load_model`, if it has one).

    Returns:
        The `Path` written.

    Raises:
        ValueError: `path` does not end in `.keras`; `class_names` is not a list
            of distinct str with one name per class.

    Example:
    >>> save_model(model, "ants_bees.keras", class_names=["ants", "bees"])
    PosixPath('ants_bees.keras')
    """
    path = Path(path).expanduser()
    if path.suffix != ".keras":
        raise ValueError(
            f"`path` must end in '.keras' (Keras's safe, pickle-free format); "
            f"received {str(path)!r}. Example: 'model.keras'."
        )
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is not None:
        class_names = _check_class_names(class_names, num_classes_of(model))
    metadata = _metadata(model, class_names)
    _build_optimizer(model)
    with atomic_path(path) as temporary, _plain_keras_compile_config(model):
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(MODEL_METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return path


def plain_keras_optimizer(optimizer):
    """A built-in Keras optimizer with `optimizer`'s settings, or None if it is one.

    This library's per-layer rates (`LayerRatesAdam`, ...) become their Keras
    class, and its schedules (`WarmupCosine`, `OneCycle`) the rate they give
    now: what a file needs to load where `transfer_keras` is not installed.
    The optimizer's variables (Adam's moments, ...) are the same either way.
    """
    config = optimizer.get_config()
    schedule = config.get("learning_rate")
    own_schedule = isinstance(schedule, dict) and not str(schedule.get("module", "")
                                                          ).startswith("keras")
    base = getattr(type(optimizer), "base_optimizer", None)
    if base is None and not own_schedule:
        return None
    if own_schedule:
        config["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    config.pop("lr_factors", None)
    return (base or type(optimizer)).from_config(config)


@contextlib.contextmanager
def _plain_keras_compile_config(model):
    """While saving, the file's compile settings name only Keras's own optimizer
    classes (see `plain_keras_optimizer`), so plain Keras can load it."""
    compile_config = getattr(model, "_compile_config", None)  # what Keras saves
    optimizer = getattr(compile_config, "config", {}).get("optimizer")
    plain = (plain_keras_optimizer(optimizer)
             if isinstance(optimizer, keras.optimizers.Optimizer) else None)
    if plain is None:
        yield
        return
    compile_config.config["optimizer"] = plain
    try:
        yield
    finally:
        compile_config.config["optimizer"] = optimizer


def _build_optimizer(model):
    """Builds a compiled model's optimizer if no `fit` has built it yet (zero slots).

    Keras saves an unbuilt optimizer without the variables that loading
    builds, then warns "Skipping variable loading for optimizer". That is the
    case of every stage-1 checkpoint: the full model is saved while only its
    head trains, on its own optimizer.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)


def _check_model_file(path):
    """Returns `path` as a `Path` of an existing zip file, or raises ValueError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} does not exist; give a .keras file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"`path` {str(path)!r} is not a Keras model: a .keras file is a zip "
            f"archive written by model.save('name.keras') or save_model()."
        )
    return path


def _read_metadata(path):
    """The `transfer_keras.json` member of a `.keras` file as a dict ({} if absent)."""
    with zipfile.ZipFile(path) as archive:
        if MODEL_METADATA_FILE not in archive.namelist():
            return {}  # saved by plain Keras or by an earlier version
        text = archive.read(MODEL_METADATA_FILE)
    try:
        metadata = json.loads(text)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise ValueError(
            f"`path` {str(path)!r} holds a damaged {MODEL_METADATA_FILE} (not a JSON "
            f"object). Save the model again with save_model()."
        )
    return metadata


def load_class_names(path):
    """Returns the class names stored in a `.keras` file, without loading the model.

    Args:
        path: a `.keras` file.

    Returns:
        The class names (a list of str) in label order, or `None` when the file
        holds none (saved without `class_names`, by plain Keras or by an earlier
        version of this library).

    Raises:
        ValueError: the file is missing, is not a Keras model, or its
            `transfer_keras.json` member is damaged.

    Example:
    >>> load_class_names("ants_bees.keras")
    ['ants', 'bees']
    """
    names = _read_metadata(_check_model_file(path)).get("class_names")
    return None if names is None else [str(name) for name in names]


def load_model(path, compile=True):
    """Loads a `.keras` model in Keras's safe mode (no pickle, no arbitrary code).

    Models from `build_classifier` take raw pixels in [0, 255], so predicting
    needs no extra preprocessing code. The class names stored by `save_model`
    come back as `model.class_names`.

    Args:
        path: a `.keras` file written by `save_model` or `model.save`.
        compile: restore the optimizer and loss too. Defaults to `True`.

    Returns:
        The `keras.Model`, with `model.class_names` set: a list of str in label
        order, or `None` when the file holds no class names.

    Raises:
        ValueError: the file is missing or is not a Keras model, or its class
            names do not fit the model.

    Example:
    >>> model = load_model("ants_bees.keras")
    >>> model.class_names
    ['ants', 'bees']
    """
    path = _check_model_file(path)
    class_names = load_class_names(path)
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:
        raise ValueError(
            f"`path` {str(path)!r} could not be loaded as a Keras model: {error}"
        ) from None
    if class_names is not None:
        try:
            class_names = _check_class_names(class_names, num_classes_of(model))
        except ValueError as error:
            raise ValueError(f"`path` {str(path)!r} holds class names that do not fit "
                             f"its model: {error}") from None
    model.class_names = class_names
    return model
