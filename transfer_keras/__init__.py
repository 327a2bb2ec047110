"""transfer_keras: transfer learning with Keras 3, from a frozen backbone to a fine-tuned model.

The public API is re-exported here; each name lives in the module that says what
it does (`backbones`, `models`, `freezing`, `data`, `training`, `evaluation`,
`experiments`). Figures live in `transfer_keras.plots`, imported separately so
the library works without a display.
"""

import os

# Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transfer_keras.backbones import (  # noqa: E402
    BACKBONES,
    BackboneSpec,
    WeightsUnavailableError,
    build_backbone,
    cached_weights,
    get_backbone_spec,
    keras_cache_dir,
    list_backbones,
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
)

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "BackbonePreprocessing",
    "WeightsUnavailableError",
    "__version__",
    "build_augmentation",
    "build_backbone",
    "build_classifier",
    "build_head",
    "cached_weights",
    "freeze_backbone",
    "get_backbone_spec",
    "keras_cache_dir",
    "list_backbones",
    "trainable_summary",
    "unfreeze_backbone",
]
