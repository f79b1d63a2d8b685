"""molgen.metrics.constraint_metrics against a count written out by hand."""

import pytest

from molgen.metrics import CONSTRAINT_DEFINITIONS, DEFINITIONS, constraint_metrics


def test_counts_strict_valid_free_samples_and_those_equal_to_the_drawn_one():
    constrained = ["CCO", "CC.O", "C1CC1", None, "CN", "CCO"]
    unconstrained = ["CCO", None, "C1CCC1", None, "CN", "OCC"]
    # strict-valid free samples: CCO, C1CCC1, CN, OCC -> 4; equal to the drawn one: CCO, CN
    assert constraint_metrics(constrained, unconstrained) == {
        "validity_unconstrained_logits": 4 / 6,
        "constraint_free_share": 2 / 6,
    }


def test_keys_are_defined_beside_the_other_metrics():
    assert set(constraint_metrics(["C"], ["C"])) == set(CONSTRAINT_DEFINITIONS)
    assert not set(CONSTRAINT_DEFINITIONS) & set(DEFINITIONS)


@pytest.mark.parametrize(("constrained", "unconstrained"), [(["C"], []), ([], [])])
def test_unpaired_or_empty_samples_are_errors(constrained, unconstrained):
    with pytest.raises(ValueError):
        constraint_metrics(constrained, unconstrained)
