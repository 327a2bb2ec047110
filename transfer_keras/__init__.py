"""transfer_keras: transfer learning with Keras 3, from a frozen backbone to a fine-tuned model.

The public API is re-exported here; each name lives in the module that says what
it does (the module map is in the README). Names are imported on first use (PEP 562),
so `import transfer_keras` is instant and starts no TensorFlow: the command line
answers `--help` at once, and nothing touches the process (no stderr redirection)
until you call something. `tk.import_tensorflow_quietly()` imports TensorFlow
with its C++ start-up lines filtered, for notebooks that want a clean page.
"""

import importlib
import importlib.util

__version__ = "0.1.0"

_EXPORTS = {  # public name -> the module that holds it (imported on first use)
    "import_tensorflow_quietly": "_quiet",
    "augment_dataset": "data",
    "BACKBONES": "backbones",
    "BackboneSpec": "backbones",
    "build_augmentation": "models",
    "build_backbone": "backbones",
    "build_classifier": "models",
    "build_head": "models",
    "build_preprocessing": "models",
    "build_scratch_classifier": "models",
    "cached_weights": "backbones",
    "compare": "evaluation",
    "compile_for_stage": "stages",
    "cross_validate": "evaluation",
    "CrossValidationResult": "evaluation",
    "DataReport": "data",
    "dataset_to_arrays": "data",
    "DataWarning": "data",
    "default_learning_rate": "stages",
    "evaluate_classifier": "evaluation",
    "EvaluationReport": "evaluation",
    "export_image_folder": "data",
    "extract_features": "features",
    "FASHION_MNIST_CLASSES": "data",
    "FashionMNIST": "data",
    "FashionMNISTUnavailableError": "data",
    "find_learning_rate": "lr_finder",
    "fine_tune": "training",
    "freeze_backbone": "freezing",
    "get_backbone_spec": "backbones",
    "group_rate_factors": "layer_rates",
    "ImageFolderData": "data",
    "keras_cache_dir": "backbones",
    "LabelledImages": "data",
    "layer_groups": "layout",
    "LayerGroup": "layout",
    "LearningRateFinderResult": "lr_finder",
    "list_backbones": "backbones",
    "load_class_names": "saving",
    "load_fashion_mnist": "data",
    "load_image": "data",
    "load_image_folder": "data",
    "load_model": "saving",
    "num_classes_of": "inference",
    "OneCycle": "callbacks",
    "predict_probabilities": "inference",
    "prepare": "data",
    "pretrain_source": "scratch",
    "project_source_backbone": "backbones",
    "ResourceUnavailableError": "errors",
    "sample_per_class": "data",
    "save_model": "saving",
    "set_seed": "stages",
    "split_classes": "data",
    "StageHistory": "callbacks",
    "top_losses": "interpret",
    "TopLoss": "interpret",
    "train_from_scratch": "scratch",
    "train_head": "training",
    "train_two_stage": "training",
    "trainable_summary": "freezing",
    "TransferHistory": "callbacks",
    "TransferKerasError": "errors",
    "unfreeze_backbone": "freezing",
    "WarmupCosine": "callbacks",
    "WeightsUnavailableError": "backbones",
    "with_layer_rates": "layer_rates",
}
_SUBMODULES = ("baselines", "kit", "plots")  # also reachable as tk.baselines, ...

__all__ = [
    "__version__",
    "augment_dataset",
    "BACKBONES",
    "BackboneSpec",
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
    "CrossValidationResult",
    "DataReport",
    "dataset_to_arrays",
    "DataWarning",
    "default_learning_rate",
    "evaluate_classifier",
    "EvaluationReport",
    "export_image_folder",
    "extract_features",
    "FASHION_MNIST_CLASSES",
    "FashionMNIST",
    "FashionMNISTUnavailableError",
    "find_learning_rate",
    "fine_tune",
    "freeze_backbone",
    "get_backbone_spec",
    "group_rate_factors",
    "ImageFolderData",
    "import_tensorflow_quietly",
    "keras_cache_dir",
    "kit",
    "LabelledImages",
    "layer_groups",
    "LayerGroup",
    "LearningRateFinderResult",
    "list_backbones",
    "load_class_names",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_model",
    "num_classes_of",
    "OneCycle",
    "predict_probabilities",
    "prepare",
    "pretrain_source",
    "project_source_backbone",
    "ResourceUnavailableError",
    "sample_per_class",
    "save_model",
    "set_seed",
    "split_classes",
    "StageHistory",
    "top_losses",
    "TopLoss",
    "train_from_scratch",
    "train_head",
    "train_two_stage",
    "trainable_summary",
    "TransferHistory",
    "TransferKerasError",
    "unfreeze_backbone",
    "WarmupCosine",
    "WeightsUnavailableError",
    "with_layer_rates",
]


def __getattr__(name):
    """Imports a public name (or submodule) from its module the first time it is used."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"transfer_keras.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES or name.isidentifier() and importlib.util.find_spec(
            f"transfer_keras.{name}") is not None:
        value = importlib.import_module(f"transfer_keras.{name}")
    else:
        raise AttributeError(f"module 'transfer_keras' has no attribute {name!r}")
    globals()[name] = value  # once: later uses are plain attribute reads
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
