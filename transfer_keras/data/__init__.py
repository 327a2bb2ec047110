"""Data in, batches out: image folders, Fashion-MNIST, class splits and `prepare`.

Everything here hands the model raw pixels in [0, 255]; preprocessing lives
inside the model (see `models.py`). One module per job:

- `folders`: `load_image_folder`, a folder of photos -> checked, resized uint8
  images (in memory, or streamed from a temporary file for large folders) and
  `tf.data` datasets, with a `DataReport` of what was loaded, skipped and
  duplicated; `load_image` for one file; `export_image_folder`, arrays ->
  `path/<class_name>/<index>.png`.
- `fashion_mnist`: `load_fashion_mnist`, the real Fashion-MNIST from the Keras
  cache, Debian's `dataset-fashion-mnist` package, or a Keras download, in that order.
- `pipelines`: `prepare`, arrays or an unbatched dataset -> resized, batched,
  prefetched batches; `augment_dataset`, `dataset_to_arrays`; `RecordFile`,
  equal-sized arrays in an anonymous temporary file (streamed images, the
  disk feature cache).
- `splits`: `split_classes` / `sample_per_class`, source and target tasks,
  few-label subsets.

Every public name is re-exported here (with the private helpers that tests reach
for), so `from transfer_keras.data import prepare` works as it did when `data`
was one module.
"""

from transfer_keras.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEBIAN_DIR,
    FASHION_MNIST_DEBIAN_PACKAGE,
    FASHION_MNIST_FILES,
    FASHION_MNIST_URL,
    FashionMNIST,
    FashionMNISTUnavailableError,
    _debian_fashion_mnist_dir,  # noqa: F401 (tests call it)
    _keras_fashion_mnist_dir,  # noqa: F401 (tests call it)
    load_fashion_mnist,
)
from transfer_keras.data.folders import (
    HELD_OUT_FOLDERS,
    LOAD_MODES,
    MAX_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    STREAMING_THRESHOLD_BYTES,
    TEST_FOLDER,
    TRAIN_FOLDER,
    DataReport,
    ImageFolderData,
    ImageRecord,
    export_image_folder,
    folder_layout,
    load_image,
    load_image_folder,
)
from transfer_keras.data.pipelines import (
    AUTOTUNE,
    SHUFFLE_BUFFER,
    DataWarning,
    augment_dataset,
    dataset_to_arrays,
    prepare,
)
from transfer_keras.data.splits import (
    LabelledImages,
    sample_per_class,
    split_classes,
)

__all__ = [
    "AUTOTUNE",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_DIR",
    "FASHION_MNIST_DEBIAN_PACKAGE",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_URL",
    "HELD_OUT_FOLDERS",
    "LOAD_MODES",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "SHUFFLE_BUFFER",
    "STREAMING_THRESHOLD_BYTES",
    "TEST_FOLDER",
    "TRAIN_FOLDER",
    "DataReport",
    "DataWarning",
    "FashionMNIST",
    "FashionMNISTUnavailableError",
    "ImageFolderData",
    "ImageRecord",
    "LabelledImages",
    "augment_dataset",
    "dataset_to_arrays",
    "export_image_folder",
    "folder_layout",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "prepare",
    "sample_per_class",
    "split_classes",
]
