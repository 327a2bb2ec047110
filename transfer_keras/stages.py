"""What every training stage shares: the default rates and epochs, compiling for a
stage, the checks made before any training, the `fit` call, and seeds.

`compile_for_stage` is called after every change to `trainable` (Keras ignores
the change otherwise); `fit_model` is `model.fit` with the optimizer built first
(one trace instead of two) and the multi-worker fixes of `_keras_compat`.
"""

import keras
import tensorflow as tf

from transfer_keras import _keras_compat, layout
from transfer_keras._checks import (
    check_epochs,
    check_positive_number,
    check_seed,
    is_one_of,
)
from transfer_keras.backbones import get_backbone_spec
from transfer_keras.inference import loss_for, num_classes_of
from transfer_keras.models import backbone_name

# The defaults are the recipe measured best on a few hundred photos: a long
# stage 1 on cached features (early stopping ends it), then the whole backbone
# (BatchNorm frozen) in small steps for up to 10 epochs. The stage-2 rate is the
# backbone's own where one was measured (`BackboneSpec.fine_tune_learning_rate`:
# 9.25e-5 for EfficientNet-Lite0, chosen by benchmarks/choose_fine_tuning.py);
# otherwise 3e-5, a cautious rate: on MobileNet-0.25, 9.25e-5 scored below it
# (benchmarks/defaults_mobilenet.py).
STAGE_LEARNING_RATES = {"head": 1e-3, "fine_tune": 3e-5}
DEFAULT_FINE_TUNE_FRACTION = 1.0
DEFAULT_HEAD_EPOCHS = 100
DEFAULT_FINE_TUNE_EPOCHS = 10


def default_learning_rate(model, *, stage="fine_tune"):
    """The learning rate a stage uses when none is given.

    1e-3 for the head. For fine-tuning, the rate measured best for the model's
    backbone where there is one (`BackboneSpec.fine_tune_learning_rate`,
    9.25e-5 for EfficientNet-Lite0), else `STAGE_LEARNING_RATES["fine_tune"]`
    (3e-5). For your own data, `find_learning_rate(model, train_ds).suggestion`
    measures one.

    Args:
        model: a model from `build_classifier` (any other model gets the general rate).
        stage: `"head"` or `"fine_tune"`. Defaults to `"fine_tune"`.

    Returns:
        The learning rate, a float.

    Example:
    >>> default_learning_rate(model, stage="fine_tune")
    3e-05
    """
    stage = check_stage(stage)
    if stage == "fine_tune":
        try:
            measured = get_backbone_spec(backbone_name(model)).fine_tune_learning_rate
        except ValueError:
            measured = None  # not a model of this library: the general default
        if measured is not None:
            return measured
    return STAGE_LEARNING_RATES[stage]


def check_stage(stage):
    aliases = {1: "head", 2: "fine_tune", "head": "head", "fine_tune": "fine_tune",
               "fine-tune": "fine_tune", "scratch": "head"}
    if not is_one_of(stage, aliases):
        raise ValueError(
            f"`stage` must be 'head' (stage 1) or 'fine_tune' (stage 2); received "
            f"{stage!r}."
        )
    return aliases[stage]


def accuracy_metric(model):
    layer = layout.predictions_of(model)
    if layer.units == 1:
        threshold = 0.0 if layer.activation.__name__ == "linear" else 0.5
        return keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold)
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def strategy_scope(model, strategy):
    """The scope to compile in: the given strategy, else the model's own."""
    return _keras_compat.distribute_strategy(model, strategy).scope()


def compile_for_stage(model, *, stage="head", learning_rate=None, optimizer=None,
                      metrics=None, strategy=None, steps_per_execution=1):
    """(Re)compiles a model for a training stage; call it after every `trainable` change.

    Args:
        model: a model with a `predictions` layer (from `build_classifier`).
        stage: `"head"` (stage 1, also used for training from scratch) or
            `"fine_tune"` (stage 2). Defaults to `"head"`.
        learning_rate: Adam learning rate. Defaults to `None`: 1e-3 for the head,
            for fine-tuning the backbone's own rate (`default_learning_rate`).
        optimizer: a Keras optimizer instead of Adam. Defaults to `None`.
        metrics: extra metrics besides accuracy. Defaults to `None`.
        strategy: the `tf.distribute` strategy the model was built with.
            Defaults to `None` (the model's own).
        steps_per_execution: training steps per compiled call; more cuts Python
            overhead for tiny models such as a head on cached features. Defaults to `1`.

    Returns:
        The model, freshly compiled.

    Example:
    >>> model = compile_for_stage(model, stage="fine_tune")
    """
    stage = check_stage(stage)
    if learning_rate is None:
        learning_rate = default_learning_rate(model, stage=stage)
    learning_rate = check_positive_number(learning_rate, "learning_rate")
    with strategy_scope(model, strategy):
        model.compile(
            optimizer=optimizer or keras.optimizers.Adam(learning_rate),
            loss=loss_for(model),
            metrics=[accuracy_metric(model)] + list(metrics or []),
            steps_per_execution=steps_per_execution,
        )
    return model


def check_patience(patience):
    if patience is not None:
        check_epochs(patience, name="patience", minimum=0,
                     hint="Use 0 or None to turn early stopping off.")


def check_training_run(model, train_ds, val_ds, epochs, patience):
    """The checks every training function makes before any work."""
    check_training_data(model, train_ds, "train_ds")
    if val_ds is not None:
        check_training_data(model, val_ds, "val_ds")
    check_epochs(epochs)
    check_patience(patience)


def check_training_data(model, data, name):
    """`data` must be a batched dataset of (images of the model's input size,
    integer labels); checked from its `element_spec`."""
    if not isinstance(data, tf.data.Dataset):
        received = ("a tuple of arrays" if isinstance(data, (tuple, list))
                    else type(data).__name__)
        raise TypeError(f"`{name}` must be a batched tf.data.Dataset of (images, labels); "
                        f"received {received}. Make one with prepare((images, labels), "
                        f"image_size=224).")
    spec = data.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"`{name}` must yield (images, labels) batches; its elements are "
                         f"{spec}.")
    images, labels = spec
    try:
        expected = tuple(model.input_shape[1:])
    except (AttributeError, ValueError):  # a subclassed model declares no input shape
        expected = None
    if expected is not None and images.shape.rank is not None:
        if images.shape.rank != len(expected) + 1:
            raise ValueError(f"`{name}` must yield batches of images, shape (batch, "
                             f"{', '.join(map(str, expected))}); its images have shape "
                             f"{tuple(images.shape)}. Batch it ({name}.batch(32)), or use "
                             f"prepare({name}, image_size=224).")
        if any(want is not None and have is not None and want != have
               for want, have in zip(expected, images.shape[1:])):
            raise ValueError(f"`{name}` images are {tuple(images.shape[1:])} but the model "
                             f"takes {expected}. Resize them: prepare({name}, image_size="
                             f"{expected[:2]}).")
    if not labels.dtype.is_integer or not (
            labels.shape.rank == 1 or labels.shape.rank == 2 and labels.shape[-1] == 1):
        raise ValueError(f"`{name}` labels must be integer class indices, one per image; "
                         f"received {labels.dtype.name} labels of shape {tuple(labels.shape)}."
                         f" One-hot labels become indices with "
                         f"{name}.map(lambda x, y: (x, tf.argmax(y, axis=-1))).")


def check_label_range(model, labels, name):
    num_classes = num_classes_of(model)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"`{name}` has labels from {labels.min()} to {labels.max()}, but the "
                         f"model predicts {num_classes} classes (labels 0 to "
                         f"{num_classes - 1}). Give build_classifier the number of classes, "
                         f"or renumber the labels.")


def fit_model(model, train_ds, **fit_arguments):
    """`model.fit(train_ds, shuffle=False, ...)`, its optimizer and metrics built first.

    Building them first makes TensorFlow trace the training step once instead
    of twice (see `_keras_compat.build_before_fit`): seconds saved on every
    `fit` of a MobileNet on a CPU. The batches come in the dataset's own order.
    Under `MultiWorkerMirroredStrategy`, `multi_worker_fit` works around the
    two Keras bugs that otherwise stop `fit` there.
    """
    _keras_compat.build_before_fit(model, train_ds)
    with _keras_compat.multi_worker_fit(model):  # Keras 3 needs two fixes there
        return model.fit(train_ds, shuffle=False, **fit_arguments)


def keras_verbosity(verbose):
    return 2 if verbose == "auto" else verbose  # one line per epoch, no progress bars


def set_seed(seed, *, deterministic=True):
    """Makes a run repeatable: seeds Python, NumPy and TensorFlow, and (by default)
    turns on TensorFlow's op determinism, so the same seed gives the same numbers.

    Op determinism stays on for the rest of the process (TensorFlow cannot turn
    it off); on a CPU it costs little.

    Args:
        seed: a whole number.
        deterministic: also call `tf.config.experimental.enable_op_determinism()`.
            Defaults to `True`.

    Example:
    >>> set_seed(0)
    """
    keras.utils.set_random_seed(check_seed(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
