"""The layer planner: which pip packages go into which image layer (pure, no I/O).

The public API is :func:`plan_fleet` and :func:`plan_image` over
:class:`Package` and :class:`Image` (and the layers users declare,
:class:`Declared` from :func:`declared`), giving a :class:`Plan`. Beside the core,
:mod:`pyimage.planner.metrics` and :mod:`pyimage.planner.baselines` score
plans for benchmarks and reports; the core never imports them.
"""

from pyimage.planner.declared import (
    COMPRESSIONS,
    NOTHING,
    REASON_ALONE,
    REASON_GROUP,
    Declared,
    declared,
)
from pyimage.planner.model import (
    DEFAULT_MAX_LAYERS,
    FLEET_RESERVED_LAYERS,
    MAX_LAYERS_LIMIT,
    REASON_CAP,
    REASON_KEPT,
    REASON_LARGE,
    REASON_SMALL,
    SMALL_LAYER_BYTES,
    Image,
    ImagePlan,
    Layer,
    Package,
    Plan,
    check_max_layers,
    package_budget,
)
from pyimage.planner.plan import plan_fleet, plan_image

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_MAX_LAYERS",
    "FLEET_RESERVED_LAYERS",
    "MAX_LAYERS_LIMIT",
    "NOTHING",
    "REASON_ALONE",
    "REASON_CAP",
    "REASON_GROUP",
    "REASON_KEPT",
    "REASON_LARGE",
    "REASON_SMALL",
    "SMALL_LAYER_BYTES",
    "Declared",
    "Image",
    "ImagePlan",
    "Layer",
    "Package",
    "Plan",
    "check_max_layers",
    "declared",
    "package_budget",
    "plan_fleet",
    "plan_image",
]
