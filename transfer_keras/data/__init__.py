"""Data in, batches out: image folders, Fashion-MNIST, class splits and `prepare`.

Everything here hands the model raw pixels in [0, 255]; preprocessing lives
inside the model (see `models.py`). One module per job:

- `images`: decoding one file (checks, Pillow, upright, RGB, resize):
  `read_image`, and `load_image` for prediction.
- `folders`: `load_image_folder`, a folder of photos -> checked, resized uint8
  images (in memory, or streamed from a temporary file for large folders) and
  `tf.data` datasets; `folder_layout`, `list_files`.
- `report`: the `DataReport` of what was loaded, skipped and duplicated, and
  `ImageFolderData`, what `load_image_folder` returns.
- `export`: `export_image_folder`, arrays -> `path/<class_name>/<index>.png`.
- `fashion_mnist`: `load_fashion_mnist`, the real Fashion-MNIST from the Keras
  cache, Debian's `dataset-fashion-mnist` package, or a Keras download, in that order.
- `pipelines`: `prepare`, arrays or an unbatched dataset -> resized, batched,
  prefetched batches; `augment_dataset`, `dataset_to_arrays`; `RecordFile`,
  equal-sized arrays in an anonymous temporary file (streamed images, the
  disk feature cache).
- `splits`: `split_classes` / `sample_per_class`, source and target tasks,
  few-label subsets.

Every public name is re-exported here, so `from transfer_keras.data import prepare`
works as it did when `data` was one module; import from the package, not from
its modules.
"""

from transfer_keras.data.export import export_image_folder
from transfer_keras.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEBIAN_DIR,
    FASHION_MNIST_DEBIAN_PACKAGE,
    FASHION_MNIST_FILES,
    FASHION_MNIST_URL,
    FashionMNIST,
    FashionMNISTUnavailableError,
    debian_fashion_mnist_dir,
    keras_fashion_mnist_dir,
    load_fashion_mnist,
)
from transfer_keras.data.folders import (
    HELD_OUT_FOLDERS,
    LOAD_MODES,
    SPLIT_FOLDER_NAMES,
    STREAMING_THRESHOLD_BYTES,
    TEST_FOLDER,
    TRAIN_FOLDER,
    TRAIN_TEST_LAYOUT,
    class_folders_named_like_splits,
    folder_layout,
    list_files,
    load_image_folder,
)
from transfer_keras.data.images import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, load_image, read_image
from transfer_keras.data.pipelines import (
    AUTOTUNE,
    SHUFFLE_BUFFER,
    DataWarning,
    RecordArray,
    RecordFile,
    augment_dataset,
    dataset_to_arrays,
    prepare,
)
from transfer_keras.data.report import DataReport, ImageFolderData, ImageRecord
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
    "SPLIT_FOLDER_NAMES",
    "STREAMING_THRESHOLD_BYTES",
    "TEST_FOLDER",
    "TRAIN_FOLDER",
    "TRAIN_TEST_LAYOUT",
    "DataReport",
    "DataWarning",
    "FashionMNIST",
    "FashionMNISTUnavailableError",
    "ImageFolderData",
    "ImageRecord",
    "LabelledImages",
    "RecordArray",
    "RecordFile",
    "augment_dataset",
    "class_folders_named_like_splits",
    "dataset_to_arrays",
    "debian_fashion_mnist_dir",
    "export_image_folder",
    "folder_layout",
    "keras_fashion_mnist_dir",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "list_files",
    "prepare",
    "read_image",
    "sample_per_class",
    "split_classes",
]
