"""Constrained sampling of symmetric edge tensors (the sampler and its rules are in
:mod:`molgen.nn.constrained.loop`)."""

from molgen.nn.constrained.loop import *  # noqa: F403
from molgen.nn.constrained.loop import (  # noqa: F401
    __all__,
    _connect_rule,
    _connected_labels,
    budget_rules,
    site_rules,
)
