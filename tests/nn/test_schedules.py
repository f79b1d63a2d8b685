"""molgen.nn.schedules: values against their formulas, floors, state round trips, config."""

import math

import pytest

from molgen.config import TemperatureConfig
from molgen.nn import schedules as S

STEPS = [0, 1, 7, 99, 100, 101, 999, 5000, 10**6]


def test_constant():
    schedule = S.make_schedule("constant", tau0=0.7, tau_min=0.1)
    assert [schedule(t) for t in STEPS] == [0.7] * len(STEPS)


def test_exponential_is_jang_et_al_updated_every_n_steps():
    schedule = S.make_schedule("exponential", tau0=1.0, tau_min=0.5, rate=1e-3, every=100)
    for t in STEPS:
        expected = max(0.5, math.exp(-1e-3 * (t // 100 * 100)))
        assert schedule(t) == pytest.approx(expected, rel=1e-12)
    assert schedule(99) == 1.0 and schedule(100) < 1.0
    assert schedule(10**6) == 0.5  # the floor


def test_linear_and_cosine_anneal_to_floor_over_horizon():
    linear = S.make_schedule("linear", tau0=2.0, tau_min=0.5, total_steps=1000)
    cosine = S.make_schedule("cosine", tau0=2.0, tau_min=0.5, total_steps=1000)
    assert linear(0) == cosine(0) == 2.0
    assert linear(500) == pytest.approx(1.25) and cosine(500) == pytest.approx(1.25)
    assert linear(250) == pytest.approx(2.0 - 1.5 * 0.25)
    assert cosine(250) == pytest.approx(0.5 + 1.5 * (1 + math.cos(math.pi / 4)) / 2)
    assert linear(1000) == cosine(1000) == linear(10**6) == cosine(10**6) == 0.5
    values = [cosine(t) for t in range(0, 1001, 10)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_step_multiplies_by_gamma_at_milestones_with_floor():
    schedule = S.make_schedule("step", tau0=1.0, tau_min=0.2, milestones=[10, 20, 30], gamma=0.5)
    assert [schedule(t) for t in (0, 9, 10, 19, 20, 29, 30, 99)] == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(S.SCHEDULES))
def test_state_dict_round_trips_exactly(name):
    schedule = S.make_schedule(
        name, tau0=1.5, tau_min=0.3, rate=3e-4, every=7, total_steps=900, milestones=[5, 50]
    )
    state = schedule.state_dict()
    assert state["schedule"] == name
    clone = S.make_schedule(**state)
    assert clone == schedule and clone.state_dict() == state
    other = S.make_schedule(name, tau0=9.0, tau_min=0.9, total_steps=10)
    other.load_state_dict(state)
    assert other == schedule
    assert [other(t) for t in STEPS] == [schedule(t) for t in STEPS]


def test_load_state_dict_rejects_other_schedule_type_and_bad_keys():
    exponential = S.make_schedule("exponential", tau0=1.0, tau_min=0.1)
    cosine = S.make_schedule("cosine", tau0=1.0, tau_min=0.1, total_steps=10)
    with pytest.raises(ValueError, match="'cosine'.*'exponential'"):
        exponential.load_state_dict(cosine.state_dict())
    state = exponential.state_dict()
    with pytest.raises(ValueError, match="keys"):
        exponential.load_state_dict({**state, "gamma": 0.5})
    with pytest.raises(ValueError, match="tau_min"):
        exponential.load_state_dict({**state, "tau_min": -1.0})
    assert exponential.tau_min == 0.1  # unchanged after a rejected load


@pytest.mark.parametrize("name", ["constant", "exponential", "linear", "cosine", "step"])
def test_every_config_schedule_builds_from_model_dump(name):
    cfg = TemperatureConfig(schedule=name, tau0=1.0, tau_min=0.2, total_steps=100)
    schedule = S.make_schedule(**cfg.model_dump())
    assert schedule.name == name and schedule(0) == 1.0
    assert all(schedule(t) >= 0.2 for t in STEPS)


def test_factory_signature_matches_config_fields():
    import inspect

    params = set(inspect.signature(S.make_schedule).parameters)
    assert params == set(TemperatureConfig.model_fields)
    defaults = TemperatureConfig()
    for name in ("rate", "every", "gamma"):
        assert inspect.signature(S.make_schedule).parameters[name].default == getattr(
            defaults, name
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": "warmup", "tau0": 1.0, "tau_min": 0.1}, "schedule"),
        ({"schedule": "linear", "tau0": 1.0, "tau_min": 0.1}, "total_steps"),
        ({"schedule": "exponential", "tau0": 0.0, "tau_min": 0.1}, "tau0"),
        ({"schedule": "exponential", "tau0": 1.0, "tau_min": 0.0}, "tau_min"),
        ({"schedule": "exponential", "tau0": 0.5, "tau_min": 1.0}, "tau_min"),
        ({"schedule": "exponential", "tau0": 1.0, "tau_min": 0.1, "rate": -1}, "rate"),
        ({"schedule": "exponential", "tau0": 1.0, "tau_min": 0.1, "every": 0}, "every"),
        ({"schedule": "cosine", "tau0": 1.0, "tau_min": 0.1, "total_steps": 0}, "total_steps"),
        ({"schedule": "step", "tau0": 1.0, "tau_min": 0.1, "milestones": [5, 2]}, "milestones"),
        ({"schedule": "step", "tau0": 1.0, "tau_min": 0.1, "gamma": 1.5}, "gamma"),
    ],
)
def test_bad_hyperparameters_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.make_schedule(**kwargs)


@pytest.mark.parametrize("step", [-1, 1.5, True])
def test_bad_step_is_value_error(step):
    with pytest.raises(ValueError, match="step"):
        S.make_schedule("constant", tau0=1.0, tau_min=1.0)(step)


def test_repr():
    schedule = S.make_schedule("cosine", tau0=1.0, tau_min=0.1, total_steps=10)
    assert repr(schedule) == "CosineSchedule(tau0=1.0, tau_min=0.1, every=1, total_steps=10)"
