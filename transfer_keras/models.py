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
from transfer_keras.backbones import (
    BACKBONES,
    build_backbone,
    check_input_shape,
    get_backbone_spec,
)

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


def build_head(features, num_classes, *, hidden_units=(), dropout=0.5, pooling="avg",
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


def build_classifier(backbone, num_classes, *, input_shape=None, weights="imagenet",
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
    >>> model = build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None, alpha=0.25)
    >>> model.get_layer("backbone").trainable
    False
    """
    return _assemble(backbone, num_classes, input_shape, weights, hidden_units, dropout,
                     pooling, augmentation, classifier_activation, mixed_precision,
                     strategy, backbone_kwargs, from_scratch=False)


def build_scratch_classifier(backbone, num_classes, *, input_shape=None, hidden_units=(),
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
    >>> model = build_scratch_classifier("mobilenet", 5, input_shape=(32, 32, 3), alpha=0.25)
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
        backbone_model = build_backbone(spec.name, input_shape=input_shape, weights=weights,
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
        outputs = build_head(features, num_classes, hidden_units=hidden_units, dropout=dropout,
                             pooling=pooling,
                             classifier_activation=classifier_activation)
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


def build_augmentation(*, flip=True, rotation=0.05, zoom=0.1, contrast=0.1, crop=0.0,
                       seed=None):
    """Builds a small random augmentation block for raw [0, 255] images.

    Active only during training (Keras preprocessing layers are no-ops at
    inference), so it can live inside the model.

    Args:
        flip: random horizontal flips. Defaults to `True`.
        rotation: max rotation as a fraction of a full turn, 0 for none. Defaults to `0.05`.
        zoom: max zoom fraction, 0 for none. Defaults to `0.1`.
        contrast: max contrast change, 0 for none. Defaults to `0.1`.
        crop: random crops: the largest fraction of each side that may be cut, 0
            for none (must be below 1). A window of `1 - crop` to 1 of each side
            (aspect kept) is placed at random and scaled back to the input size:
            `RandomTranslation` by up to `crop / 2` of each side, then
            `RandomZoom` in by up to `crop`. Where the shift is larger than half
            the cut, a strip at the edge is mirrored (`fill_mode="reflect"`).
            Output size unchanged. Defaults to `0.0`.
        seed: seed for reproducible augmentation. Defaults to `None`.

    Returns:
        A `keras.Sequential` named `"augmentation"`.

    Raises:
        ValueError: `crop` outside [0, 1).
        TypeError: `crop` is not a number.

    Example:
    >>> augment = build_augmentation(crop=0.2, seed=0)
    >>> [layer.__class__.__name__ for layer in augment.layers][-2:]
    ['RandomTranslation', 'RandomZoom']
    """
    seed = check_seed(seed, allow_none=True)
    crop = check_fraction(crop, "crop", "[0, 1)", what="a fraction of each side",
                          hint="Use e.g. crop=0.2 to cut up to a fifth of each side, 0 for no crops.")
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=seed))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    if crop:
        # Shift first, then zoom in about the centre: the window then shows the
        # photo's own pixels wherever the shift is at most half the cut.
        layers.append(keras.layers.RandomTranslation(crop / 2, crop / 2, seed=seed))
        layers.append(keras.layers.RandomZoom((-crop, 0.0), seed=seed))
    return keras.Sequential(layers, name=layout.AUGMENTATION)


def backbone_name(model):
    """Returns the table name of the backbone inside a model from `build_classifier`.

    Read from the model's name, which `build_classifier` and
    `build_scratch_classifier` set to `"<backbone>_classifier"` or
    `"<backbone>_scratch"`: the name travels with the model into its `.keras`
    file, so this works for new models, loaded models and plain-Keras loads

    Args:
        model: a model from `build_classifier` or `build_scratch_classifier`
            (or loaded from their `.keras` file), not renamed.

    Returns:
        The backbone's name in `BACKBONES`, e.g. `"mobilenetv2"`.

    Raises:
        ValueError: the model's name does not start with a backbone name.

    Example:
    >>> backbone_name(build_classifier("mobilenet", 3, input_shape=(32, 32, 3), weights=None))
    'mobilenet'
    """
    for name in sorted(BACKBONES, key=len, reverse=True):  # names may hold "_"
        if model.name.startswith(name + "_"):
            return name
    raise ValueError(
        f"Cannot tell the backbone of `model` {model.name!r}: its name should start "
        f"with a backbone name and '_' (e.g. 'mobilenetv2_classifier'), as "
        f"build_classifier() names it. Build it with build_classifier(), or give it "
        f"such a name."
    )
