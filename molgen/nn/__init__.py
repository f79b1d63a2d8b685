"""molgen's reusable layers: discrete samplers with gradients, temperature schedules, graph convs.

``import molgen.nn`` needs only torch. The relational graph layers (``DenseRelationalConv``,
``GraphAggregation``) live in :mod:`molgen.nn.rgcn` and are imported on first access. Graph-level
structure features (cycle counts, valence histograms) are in :mod:`molgen.nn.graph_features`.
"""

from __future__ import annotations

import importlib
from typing import Any

from molgen.nn import functional, graph_features, schedules
from molgen.nn.graph_features import GraphStructureFeatures
from molgen.nn.gumbel import BudgetedSymmetricGumbelSoftmax, GumbelSoftmax, SymmetricGumbelSoftmax
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
    "BudgetedSymmetricGumbelSoftmax",
    "ConstantSchedule",
    "CosineSchedule",
    "DenseRelationalConv",
    "ExponentialSchedule",
    "GraphAggregation",
    "GraphStructureFeatures",
    "GumbelSoftmax",
    "LinearSchedule",
    "StepSchedule",
    "SymmetricGumbelSoftmax",
    "TemperatureSchedule",
    "functional",
    "graph_features",
    "make_schedule",
    "schedules",
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
