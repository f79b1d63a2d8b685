"""molgen's reusable layers: discrete samplers with gradients, temperature schedules, graph convs.

Constrained edge sampling (rules such as valence budgets, ring sizes, crossing-free drawings and
the attachment sites of fragment graphs) is in :mod:`molgen.nn.constrained`.

``import molgen.nn`` needs only torch. The relational graph layers (``DenseRelationalConv``,
``GraphAggregation``) live in :mod:`molgen.nn.rgcn` and are imported on first access. Graph-level
structure features (cycle counts, valence histograms) are in :mod:`molgen.nn.graph_features`.
"""

from __future__ import annotations

import importlib
from typing import Any

from molgen.nn import constrained, functional, graph_features, schedules
from molgen.nn.constrained import (
    Budget,
    MaxCycle,
    NonCrossing,
    Rule,
    SiteBudget,
    budgeted_symmetric_gumbel_softmax,
    budgeted_symmetric_one_hot_argmax,
    constrained_symmetric_gumbel_softmax,
    constrained_symmetric_one_hot_argmax,
    site_budget_of,
    site_gumbel_softmax,
    site_one_hot_argmax,
    tree_attachable,
)
from molgen.nn.graph_features import GraphStructureFeatures
from molgen.nn.gumbel import (
    BudgetedSymmetricGumbelSoftmax,
    GumbelSoftmax,
    SiteGumbelSoftmax,
    SymmetricGumbelSoftmax,
)
from molgen.nn.schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    LinearSchedule,
    StepSchedule,
    TemperatureSchedule,
    make_schedule,
)

__all__ = [
    "Budget",
    "BudgetedSymmetricGumbelSoftmax",
    "ConstantSchedule",
    "CosineSchedule",
    "DenseRelationalConv",
    "ExponentialSchedule",
    "GraphAggregation",
    "GraphStructureFeatures",
    "GumbelSoftmax",
    "LinearSchedule",
    "MaxCycle",
    "NonCrossing",
    "Rule",
    "SiteBudget",
    "SiteGumbelSoftmax",
    "StepSchedule",
    "SymmetricGumbelSoftmax",
    "TemperatureSchedule",
    "budgeted_symmetric_gumbel_softmax",
    "budgeted_symmetric_one_hot_argmax",
    "constrained",
    "constrained_symmetric_gumbel_softmax",
    "constrained_symmetric_one_hot_argmax",
    "functional",
    "graph_features",
    "make_schedule",
    "schedules",
    "site_budget_of",
    "site_gumbel_softmax",
    "site_one_hot_argmax",
    "tree_attachable",
]

_LAZY = {"DenseRelationalConv": "molgen.nn.rgcn", "GraphAggregation": "molgen.nn.rgcn"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'molgen.nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
