"""Discriminative learning rates: each layer group of a model learns at its own rate.

`with_layer_rates(optimizer, lr_factors)` wraps any Keras optimizer so that each
variable's step is scaled by its group's factor (`group_rate_factors` maps
`layout.layer_groups` to variables); `fine_tune(..., lr_factors=...)` and
`lr_decay=` use it. A factor of 0 leaves a group unchanged.
"""

import keras

from transfer_keras import layout
from transfer_keras._checks import check_fraction, is_number

# Layer groups for discriminative rates (`lr_decay`) and gradual unfreezing:
# three of the backbone, then the head.
DEFAULT_LAYER_GROUPS = 4


class _LayerRates:
    """Mixed into a Keras optimizer: each variable's step uses its own rate.

    `lr_factors` maps a variable's `path` (e.g. `"block1a_dwconv/depthwise_kernel"`)
    to a factor; the optimizer's learning rate (a number or a schedule, as set
    by warm-up or ReduceLROnPlateau) times the factor is that variable's rate.
    Variables not named keep factor 1; factor 0 leaves a variable unchanged.
    It scales the *step*, not the gradient: Adam divides the gradient by its
    own running scale, so scaled gradients would change nothing.
    """

    def __init__(self, *args, lr_factors=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_factors = {str(path): float(factor)
                           for path, factor in (lr_factors or {}).items()}

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._factors = [self.lr_factors.get(variable.path, 1.0) for variable in variables]

    def _factor(self, variable):
        return self._factors[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor(variable)
        if factor:
            super().update_step(gradient, variable, learning_rate * factor)

    def _apply_weight_decay(self, variables):
        base = self.weight_decay
        if base is None:
            return
        try:  # decoupled weight decay is `rate * weight_decay`: scale it the same way
            for factor in sorted({self._factor(variable) for variable in variables}):
                self.weight_decay = base * factor
                if factor:
                    super()._apply_weight_decay(
                        [variable for variable in variables if self._factor(variable) == factor])
        finally:
            self.weight_decay = base

    def get_config(self):
        return {**super().get_config(), "lr_factors": dict(self.lr_factors)}


_LAYER_RATE_CLASSES = {}


def _layer_rates_class(base):
    """`LayerRates<Base>`: `base` with per-variable rates, registered with Keras
    so that a saved model's optimizer loads back (`transfer_keras>LayerRatesAdam`)."""
    if base not in _LAYER_RATE_CLASSES:
        name = f"LayerRates{base.__name__}"
        cls = type(name, (_LayerRates, base), {
            "__doc__": f"`keras.optimizers.{base.__name__}` with a rate factor per variable "
                       f"(see `with_layer_rates`).",
            "__module__": __name__, "base_optimizer": base})
        _LAYER_RATE_CLASSES[base] = keras.saving.register_keras_serializable(
            package="transfer_keras", name=name)(cls)
    return _LAYER_RATE_CLASSES[base]


for _base in vars(keras.optimizers).values():  # the built-in optimizers, ready to load
    if (isinstance(_base, type) and issubclass(_base, keras.optimizers.Optimizer)
            and _base not in (keras.optimizers.Optimizer, keras.optimizers.LossScaleOptimizer)):
        _layer_rates_class(_base)


def with_layer_rates(optimizer, lr_factors):
    """Returns a copy of `optimizer` whose step for each variable is scaled by its factor.

    Works with plain `model.fit`, learning-rate schedules, warm-up and
    callbacks such as `ReduceLROnPlateau` (they set the base rate), mixed
    precision and `tf.distribute`; the model saves and loads with plain Keras.

    Args:
        optimizer: a Keras optimizer, e.g. `keras.optimizers.Adam(1e-3)`.
        lr_factors: dict variable path -> factor, e.g. from `group_rate_factors`.

    Returns:
        A new optimizer of class `LayerRates<Base>` with `optimizer`'s settings.

    Example:
    >>> factors = group_rate_factors(model, (0.1, 1.0))
    >>> model.compile(with_layer_rates(keras.optimizers.Adam(1e-3), factors), loss=...)
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer) or isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer):
        raise TypeError(f"`optimizer` must be a Keras optimizer such as "
                        f"keras.optimizers.Adam(1e-3); received {type(optimizer).__name__}.")
    base = getattr(type(optimizer), "base_optimizer", type(optimizer))
    config = {**optimizer.get_config(), "lr_factors": lr_factors}
    return _layer_rates_class(base).from_config(config)


def check_lr_factors(lr_factors, lr_decay, groups):
    """Returns the rate factor of each layer group, bottom to top (or None), from
    `lr_factors` or `lr_decay` over `groups` groups; raises ValueError on bad values."""
    if lr_factors is not None and lr_decay is not None:
        raise ValueError("Give `lr_factors` or `lr_decay`, not both; received both.")
    if lr_decay is not None:
        lr_decay = check_fraction(lr_decay, "lr_decay", "(0, 1]",
                                  hint="0.3 gives each group below a third of the rate.")
        return tuple(lr_decay ** (groups - 1 - index) for index in range(groups))
    if lr_factors is None:
        return None
    if (not isinstance(lr_factors, (list, tuple)) or len(lr_factors) < 2
            or not all(is_number(f) and 0 <= f for f in lr_factors)):
        raise ValueError(f"`lr_factors` must be a list of at least two numbers >= 0, one per "
                         f"layer group from the bottom of the backbone to the head, e.g. "
                         f"(0.01, 0.1, 1.0); received {lr_factors!r}.")
    return tuple(float(factor) for factor in lr_factors)


def group_rate_factors(model, lr_factors):
    """Maps every variable of `layer_groups(model, len(lr_factors))` to its group's factor.

    Example:
    >>> factors = group_rate_factors(model, (0.1, 1.0))  # backbone at a tenth, head at 1
    """
    factors = check_lr_factors(lr_factors, None, None)
    return {variable.path: factor
            for group, factor in zip(layout.layer_groups(model, len(factors)), factors)
            for layer in group.layers for variable in layer.weights if variable.trainable}
