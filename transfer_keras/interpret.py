"""Looking inside a trained classifier: Grad-CAM heatmaps and the top losses.

Both answer "why did it say that?": Grad-CAM shows where the backbone looked
for a class, the top losses show the examples the model got most confidently
wrong (label noise, confusing classes). Their figures live in `plots`
(`plot_grad_cam`, `plot_top_losses`).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from transfer_keras import layout
from transfer_keras._checks import check_labels, check_whole_number
from transfer_keras.backbones import BACKBONES
from transfer_keras.inference import outputs_logits, predict_with_labels, to_probabilities

__all__ = [
    "GradCam",
    "TopLoss",
    "compute_grad_cam",
    "grad_cam_heatmap",
    "top_losses",
]


# --------------------------------------------------------------------------- Grad-CAM


@dataclasses.dataclass(frozen=True, eq=False)  # holds numpy arrays: compare fields yourself
class GradCam:
    """The Grad-CAM of one image.

    Attributes:
        heatmap: a float array `(height, width)` in [0, 1], at the image's size.
        class_index: the class explained.
        probabilities: the model's probabilities for the image, `(num_classes,)`.
    """

    heatmap: np.ndarray
    class_index: int
    probabilities: np.ndarray


def _unsupported(why):
    return ValueError(
        f"Grad-CAM needs a convolutional backbone: a layer named 'backbone' whose "
        f"output is a 4-D feature map (batch, height, width, channels). {why} Build "
        f"the model with build_classifier(); supported backbones: "
        f"{', '.join(BACKBONES)}."
    )


def compute_grad_cam(model, image, *, class_index=None):
    """Returns the Grad-CAM of one image with the class explained and the probabilities.

    See `grad_cam_heatmap` for the method; this also returns which class was
    explained and what the model predicted, for a figure's titles.

    Args:
        model: a classifier from `build_classifier`.
        image: one image `(height, width, 3)`, raw pixels in [0, 255], at the
            model's input size.
        class_index: the class to explain. Defaults to `None` (the predicted class).

    Returns:
        A `GradCam` (`heatmap`, `class_index`, `probabilities`).

    Raises:
        ValueError: the model has no 'backbone' layer or its output is not 4-D,
            the image has the wrong shape, or `class_index` is out of range.
        TypeError: `class_index` is not a whole number.

    Example:
    >>> cam = compute_grad_cam(model, images[0])
    >>> cam.heatmap.shape, cam.class_index == int(cam.probabilities.argmax())
    ((128, 128), True)
    """
    try:
        parts = layout.classifier_parts(model)
        backbone, head = parts.backbone, parts.head
    except ValueError:
        raise _unsupported(f"Model {model.name!r} has no 'backbone' layer.") from None
    if len(backbone.output.shape) != 4:
        raise _unsupported(f"Its backbone's output has shape {tuple(backbone.output.shape)}.")
    image = np.asarray(image, dtype="float32")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    expected = tuple(model.input_shape[1:3])
    if image.ndim != 3 or (None not in expected and image.shape[:2] != expected):
        raise ValueError(
            f"`image` must be one image of shape {expected + (3,)} (height, width, "
            f"channels) like the model's input; received shape {image.shape}. Resize "
            f"it first, e.g. with keras.ops.image.resize."
        )
    # Pixels -> preprocessing -> feature map (augmentation is skipped: inference).
    x = image[None]
    for layer in layout.inference_inputs(model):
        x = layer(x, training=False)
    features = backbone(x, training=False)
    *hidden, output_layer = head
    with tf.GradientTape() as tape:
        tape.watch(features)
        x = features
        for layer in hidden:
            x = layer(x, training=False)
        if isinstance(output_layer, keras.layers.Dense):  # the score before softmax
            x = tf.cast(x, output_layer.kernel.dtype)
            scores = tf.matmul(x, output_layer.kernel)
            if output_layer.use_bias:
                scores = scores + output_layer.bias
            outputs = output_layer.activation(scores)
        else:
            scores = outputs = output_layer(x, training=False)
        probabilities = to_probabilities(outputs.numpy(), logits=outputs_logits(model))[0]
        if class_index is None:
            class_index = int(probabilities.argmax())
        class_index = check_whole_number(class_index, "class_index", 0,
                                         len(probabilities) - 1, what="a class index")
        if scores.shape[-1] == 1:  # one sigmoid unit: its logit is the score of class 1
            score = scores[0, 0] if class_index == 1 else -scores[0, 0]
        else:
            score = scores[0, class_index]
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # one per channel
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, weights.dtype), axis=-1))[0]
    peak = float(tf.reduce_max(cam))
    cam = cam / peak if peak > 0 else tf.zeros_like(cam)
    heatmap = tf.image.resize(cam[..., None], image.shape[:2], method="bilinear")[..., 0]
    return GradCam(np.clip(heatmap.numpy(), 0.0, 1.0), class_index, probabilities)


def grad_cam_heatmap(model, image, *, class_index=None):
    """Returns the Grad-CAM heatmap of one image: where the backbone looked for a class.

    Grad-CAM (Selvaraju et al., 2017) weights each channel of the backbone's
    last feature map by the mean gradient of the class score (the logit,
    before softmax) with respect to it, sums the channels, keeps the positive
    part and scales it to [0, 1]. Supported: models from `build_classifier`
    whose backbone outputs a 4-D feature map, i.e. every backbone in
    `BACKBONES` (all convolutional). Arguments and errors: see `compute_grad_cam`.

    Returns:
        A float numpy array `(height, width)` in [0, 1], at the image's size.

    Example:
    >>> grad_cam_heatmap(model, images[0]).shape  # a 128 x 128 photo
    (128, 128)
    """
    return compute_grad_cam(model, image, class_index=class_index).heatmap


# --------------------------------------------------------------------------- top losses


@dataclasses.dataclass(frozen=True)
class TopLoss:
    """One misclassified example.

    Attributes:
        index: position of the example in the data, in iteration order.
        image: the raw pixels, as given.
        true_label: the correct label.
        predicted_label: the model's (wrong) label.
        probability: the probability the model gave its predicted label.
        loss: the example's cross-entropy loss, `-log P(true label)`.
    """

    index: int
    image: np.ndarray
    true_label: int
    predicted_label: int
    probability: float
    loss: float


def top_losses(model, data, *, k=9, batch_size=32):
    """Returns the `k` most confidently wrong examples, highest loss first.

    Only misclassified examples are considered, so fewer than `k` (even none)
    may come back. Looking at them is the quickest way to find label noise and
    confusing classes.

    Args:
        model: a trained classifier.
        data: a batched `tf.data.Dataset` of `(images, labels)` or a tuple
            `(images, labels)` of arrays. A dataset is read once; `index` refers
            to that pass.
        k: how many examples to return at most. Defaults to `9`.
        batch_size: batch size when `data` is an array tuple. Defaults to `32`.

    Returns:
        A list of `TopLoss`, sorted by `loss` descending.

    Raises:
        TypeError: `k` is not a whole number.
        ValueError: `k` is below 1, labels are beyond the model's classes, or
            arrays are empty or not of the model's input shape.

    Example:
    >>> worst = top_losses(model, test_ds, k=4)
    >>> len(worst), worst[0].loss >= worst[-1].loss  # the worst first
    (4, True)
    """
    k = check_whole_number(k, "k")
    images, labels, probabilities = predict_with_labels(model, data, batch_size=batch_size,
                                                        keep_images=True)
    check_labels(labels, num_classes=probabilities.shape[1])
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(labels))
    losses = -np.log(np.clip(probabilities[rows, labels], 1e-12, 1.0))
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-losses[wrong], kind="stable")][:k]
    return [
        TopLoss(index=int(i), image=images[i], true_label=int(labels[i]),
                predicted_label=int(predicted[i]),
                probability=float(probabilities[i, predicted[i]]), loss=float(losses[i]))
        for i in worst
    ]
