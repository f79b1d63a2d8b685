import math

import pytest

from molgen.metrics import DEFINITIONS, METRICS, MOLGEN, REFERENCE_METRICS, compute_metrics
from molgen.metrics.suite import Benchmark, Metric

SAMPLES = ["CCO", "OCC", "c1ccccc1O", "xx", "CC(=O)Nc1ccc(O)cc1"]
REFERENCE = ["CCO", "CCN", "c1ccccc1"]


def test_tables_are_derived_from_the_records():
    assert tuple(m.name for m in MOLGEN.metrics) == METRICS
    assert {m.name: m.definition for m in MOLGEN.metrics} == DEFINITIONS
    assert {"novelty", "snn", "fcd", "frag", "scaf", "kl_score", "nspdk"} == REFERENCE_METRICS
    assert MOLGEN.references == {"reference"}
    assert MOLGEN["snn"].features == ("morgan",) and MOLGEN["snn"].needs_reference


def _qed_delta(samples, reference):
    """A new metric, written in one place: mean QED of the valid samples, minus that of the
    reference (read from the same per-molecule features)."""
    return samples.weighted_mean(samples.features["qed"]) - float(
        reference.feature("qed", samples.pool).mean()
    )


def test_a_new_benchmark_is_a_list_of_records_with_named_references():
    delta = Metric("qed_delta", "mean QED minus the test set's", _qed_delta, ("qed",), "test")
    benchmark = Benchmark("custom", (MOLGEN["validity"], delta))
    got = compute_metrics(SAMPLES, {"test": REFERENCE}, benchmark=benchmark)
    qed = compute_metrics(SAMPLES, metrics={"qed"})["qed"]
    ref_qed = compute_metrics(REFERENCE, metrics={"qed"})["qed"]
    assert got == {"validity": 4 / 5, "qed_delta": pytest.approx(qed - ref_qed, rel=1e-12)}
    # without its reference set the metric is left out, like molgen's reference metrics
    assert compute_metrics(SAMPLES, benchmark=benchmark) == {"validity": 4 / 5}


def test_a_mapping_with_the_default_name_equals_one_reference():
    wanted = {"novelty", "snn", "uniqueness"}
    one = compute_metrics(SAMPLES, REFERENCE, metrics=wanted)
    assert compute_metrics(SAMPLES, {"reference": REFERENCE}, metrics=wanted) == one
    assert not any(math.isnan(v) for v in one.values())


def test_duplicate_names_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Benchmark("twice", (MOLGEN["validity"], MOLGEN["validity"]))
