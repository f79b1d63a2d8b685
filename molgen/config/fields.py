"""What every config section is built from: a base model that forbids unknown keys and checks
assignments, and the bounded field types (finite reals, layer widths, fractions)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt


def _finite_number(value: Any) -> Any:
    # YAML's true/yes would otherwise pass as the number 1; nan would fail a bound first,
    # with a message about the bound.
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return value  # not a number: pydantic says so
    if not math.isfinite(number):
        raise ValueError("Input should be a finite number")
    return value


#: A finite float; ints are accepted (``tau0: 1``), booleans are not.
Real = Annotated[float, BeforeValidator(_finite_number)]
#: A layer width.
Width = Annotated[StrictInt, Field(gt=0)]
#: A probability-like fraction in [0, 1).
Fraction = Annotated[Real, Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
