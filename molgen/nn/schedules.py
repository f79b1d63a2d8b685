r"""Gumbel-Softmax temperature schedules: pure functions of the global step with a floor.

Every schedule maps a step :math:`t \ge 0` to :math:`\tau(t) \ge \tau_{min} > 0`, updating only
every ``every`` steps (:math:`t` is rounded down to a multiple of ``every``):

- ``constant``: :math:`\tau_0`
- ``exponential`` (Jang et al., 2017): :math:`\max(\tau_{min}, \tau_0 e^{-r t})`
- ``linear``: from :math:`\tau_0` to :math:`\tau_{min}` over ``total_steps``, then flat
- ``cosine``: :math:`\tau_{min} + (\tau_0 - \tau_{min})(1 + \cos(\pi \min(t/T, 1)))/2`
- ``step``: :math:`\max(\tau_{min}, \tau_0 \gamma^{\#\{m \in milestones: m \le t\}})`

:func:`make_schedule` takes the fields of ``molgen.config.TemperatureConfig`` as keywords, so
``make_schedule(**cfg.temperature.model_dump())`` builds the configured one (this module does
not import pydantic). ``state_dict()`` holds the schedule's name and hyperparameters, which is
all a pure function of the step needs; ``make_schedule(**state_dict)`` rebuilds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "SCHEDULES",
    "ConstantSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "LinearSchedule",
    "StepSchedule",
    "TemperatureSchedule",
    "make_schedule",
]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class TemperatureSchedule:
    """Base class: ``schedule(step) -> tau``; subclasses implement :meth:`_value`."""

    name: str = ""
    #: hyperparameters beyond tau0, tau_min and every, in state_dict order
    _extra: tuple[str, ...] = ()

    def __init__(self, tau0: float, tau_min: float, every: int = 1) -> None:
        self.tau0 = _positive("tau0", tau0)
        self.tau_min = _positive("tau_min", tau_min)
        if self.tau_min > self.tau0:
            raise ValueError(f"tau_min ({self.tau_min}) must be <= tau0 ({self.tau0})")
        self.every = _positive_int("every", every)

    def _value(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: int) -> float:
        """The temperature at global step ``step`` (an int >= 0)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        step -= step % self.every
        return max(self.tau_min, self._value(step))

    def state_dict(self) -> dict[str, Any]:
        state = {"schedule": self.name, "tau0": self.tau0, "tau_min": self.tau_min}
        state["every"] = self.every
        for key in self._extra:
            value = getattr(self, key)
            state[key] = list(value) if isinstance(value, tuple) else value
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyperparameters saved by :meth:`state_dict` of the same schedule type."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict, got {type(state).__name__}")
        if state.get("schedule") != self.name:
            raise ValueError(
                f"cannot load a state_dict of schedule {state.get('schedule')!r} into a "
                f"{self.name!r} schedule"
            )
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(
                f"{self.name} schedule state_dict keys must be {sorted(expected)}, "
                f"got {sorted(state)}"
            )
        # Validate everything on a fresh instance before touching self.
        fresh = type(self)(**{k: v for k, v in state.items() if k != "schedule"})
        self.__dict__.update(fresh.__dict__)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.state_dict().items() if k != "schedule")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.state_dict() == self.state_dict()


class ConstantSchedule(TemperatureSchedule):
    """:math:`\\tau(t) = \\tau_0`."""

    name = "constant"

    def __init__(self, tau0: float, tau_min: float | None = None, every: int = 1) -> None:
        super().__init__(tau0, tau0 if tau_min is None else tau_min, every)

    def _value(self, step: int) -> float:
        return self.tau0


class ExponentialSchedule(TemperatureSchedule):
    """Jang et al. (2017): :math:`\\tau = \\max(\\tau_{min}, \\tau_0 e^{-r t})`, every n steps."""

    name = "exponential"
    _extra = ("rate",)

    def __init__(self, tau0: float, tau_min: float, rate: float, every: int = 1) -> None:
        super().__init__(tau0, tau_min, every)
        rate = float(rate)
        if not (rate >= 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number >= 0, got {rate}")
        self.rate = rate

    def _value(self, step: int) -> float:
        return self.tau0 * math.exp(-self.rate * step)


class _HorizonSchedule(TemperatureSchedule):
    """Anneals from tau0 to tau_min over ``total_steps`` by ``_shape(progress in [0, 1])``."""

    _extra = ("total_steps",)

    def __init__(self, tau0: float, tau_min: float, total_steps: int, every: int = 1) -> None:
        super().__init__(tau0, tau_min, every)
        self.total_steps = _positive_int("total_steps", total_steps)

    @staticmethod
    def _shape(progress: float) -> float:
        raise NotImplementedError

    def _value(self, step: int) -> float:
        progress = min(step / self.total_steps, 1.0)
        return self.tau_min + (self.tau0 - self.tau_min) * self._shape(progress)


class LinearSchedule(_HorizonSchedule):
    """Linear from :math:`\\tau_0` at step 0 to :math:`\\tau_{min}` at ``total_steps``."""

    name = "linear"

    @staticmethod
    def _shape(progress: float) -> float:
        return 1.0 - progress


class CosineSchedule(_HorizonSchedule):
    """Half-cosine from :math:`\\tau_0` at step 0 to :math:`\\tau_{min}` at ``total_steps``."""

    name = "cosine"

    @staticmethod
    def _shape(progress: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class StepSchedule(TemperatureSchedule):
    """Multiply by ``gamma`` at each milestone step: :math:`\\tau_0 \\gamma^k`, floored."""

    name = "step"
    _extra = ("milestones", "gamma")

    def __init__(
        self,
        tau0: float,
        tau_min: float,
        milestones: Sequence[int] = (),
        gamma: float = 0.5,
        every: int = 1,
    ) -> None:
        super().__init__(tau0, tau_min, every)
        milestones = tuple(milestones)
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 0 for m in milestones):
            raise ValueError(f"milestones must be ints >= 0, got {list(milestones)}")
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {list(milestones)}")
        gamma = float(gamma)
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.milestones = milestones
        self.gamma = gamma

    def _value(self, step: int) -> float:
        passed = sum(1 for m in self.milestones if m <= step)
        return self.tau0 * self.gamma**passed


SCHEDULES: dict[str, type[TemperatureSchedule]] = {
    cls.name: cls
    for cls in (
        ConstantSchedule,
        ExponentialSchedule,
        LinearSchedule,
        CosineSchedule,
        StepSchedule,
    )
}


def make_schedule(
    schedule: str,
    *,
    tau0: float,
    tau_min: float,
    rate: float = 1e-4,
    every: int = 1,
    total_steps: int | None = None,
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
) -> TemperatureSchedule:
    """Build a schedule by name; keywords are ``TemperatureConfig``'s fields.

    Keywords that the chosen schedule does not use are ignored (the config carries all of
    them); ``linear`` and ``cosine`` need ``total_steps``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    common = {"tau0": tau0, "tau_min": tau_min, "every": every}
    if schedule == "exponential":
        return ExponentialSchedule(rate=rate, **common)
    if schedule in ("linear", "cosine"):
        if total_steps is None:
            raise ValueError(f"schedule {schedule!r} needs total_steps (the annealing horizon)")
        return SCHEDULES[schedule](total_steps=total_steps, **common)
    if schedule == "step":
        return StepSchedule(milestones=milestones, gamma=gamma, **common)
    return ConstantSchedule(**common)
