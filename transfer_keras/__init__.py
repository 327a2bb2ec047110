"""transfer_keras: transfer learning with Keras 3, from a frozen backbone to a fine-tuned model.

The public API is re-exported here; each name lives in the module that says what
it does (`backbones`, `models`, `freezing`, `data`, `training`, `evaluation`,
`experiments`). Figures live in `transfer_keras.plots`, imported separately so
the library works without a display.
"""

import os

# Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transfer_keras._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # does not start TensorFlow's devices: tf.config still works

from transfer_keras import baselines, kit  # noqa: E402
from transfer_keras.backbones import (  # noqa: E402
    BACKBONES,
    BackboneSpec,
    WeightsUnavailableError,
    build_backbone,
    cached_weights,
    get_backbone_spec,
    keras_cache_dir,
    list_backbones,
    project_source_backbone,
)
from transfer_keras.data import (  # noqa: E402
    DataReport,
    DataWarning,
    FASHION_MNIST_CLASSES,
    FashionMNIST,
    FashionMNISTUnavailableError,
    ImageFolderData,
    LabelledImages,
    augment_dataset,
    dataset_to_arrays,
    export_image_folder,
    load_fashion_mnist,
    load_image,
    load_image_folder,
    prepare,
    sample_per_class,
    split_classes,
)
from transfer_keras.errors import ResourceUnavailableError, TransferKerasError  # noqa: E402
from transfer_keras.evaluation import (  # noqa: E402
    CrossValidationResult,
    EvaluationReport,
    TopLoss,
    compare,
    cross_validate,
    evaluate_classifier,
    num_classes_of,
    predict_probabilities,
    top_losses,
)
from transfer_keras.freezing import (  # noqa: E402
    freeze_backbone,
    trainable_summary,
    unfreeze_backbone,
)
from transfer_keras.models import (  # noqa: E402
    BackbonePreprocessing,
    build_augmentation,
    build_classifier,
    build_head,
    build_preprocessing,
    build_scratch_classifier,
    load_class_names,
    load_model,
    save_model,
)
from transfer_keras.callbacks import OneCycle, WarmupCosine  # noqa: E402
from transfer_keras.layout import LayerGroup, layer_groups  # noqa: E402
from transfer_keras.training import (  # noqa: E402
    LearningRateFinderResult,
    TransferHistory,
    compile_for_stage,
    default_learning_rate,
    extract_features,
    find_learning_rate,
    fine_tune,
    pretrain_source,
    set_seed,
    train_from_scratch,
    train_head,
    train_two_stage,
    group_rate_factors,
    with_layer_rates,
)

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "BackbonePreprocessing",
    "BackboneSpec",
    "CrossValidationResult",
    "DataReport",
    "DataWarning",
    "EvaluationReport",
    "FASHION_MNIST_CLASSES",
    "FashionMNIST",
    "FashionMNISTUnavailableError",
    "ImageFolderData",
    "LabelledImages",
    "LearningRateFinderResult",
    "ResourceUnavailableError",
    "TopLoss",
    "TransferHistory",
    "TransferKerasError",
    "WeightsUnavailableError",
    "__version__",
    "augment_dataset",
    "baselines",
    "build_augmentation",
    "build_backbone",
    "build_classifier",
    "build_head",
    "build_preprocessing",
    "build_scratch_classifier",
    "cached_weights",
    "compare",
    "compile_for_stage",
    "cross_validate",
    "dataset_to_arrays",
    "evaluate_classifier",
    "export_image_folder",
    "extract_features",
    "layer_groups",
    "with_layer_rates",
    "group_rate_factors",
    "LayerGroup",
    "OneCycle",
    "WarmupCosine",
    "default_learning_rate",
    "find_learning_rate",
    "fine_tune",
    "freeze_backbone",
    "get_backbone_spec",
    "keras_cache_dir",
    "kit",
    "list_backbones",
    "project_source_backbone",
    "load_class_names",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_model",
    "num_classes_of",
    "predict_probabilities",
    "prepare",
    "pretrain_source",
    "sample_per_class",
    "save_model",
    "set_seed",
    "split_classes",
    "top_losses",
    "train_from_scratch",
    "train_head",
    "train_two_stage",
    "trainable_summary",
    "unfreeze_backbone",
]
