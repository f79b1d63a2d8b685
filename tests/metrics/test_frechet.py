import numpy as np
import pytest
from scipy import linalg

from molgen.metrics.frechet import (
    FrechetAccumulator,
    FrechetStats,
    chemnet_activations,
    frechet_distance,
)

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "CCN(CC)CC", "OC1CCCCC1", "N#CC#N", "CC1=CC(=O)C=CC1=O"]


def _random_stats(rng, dim, n):
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim))
    return FrechetStats(x.mean(0), np.cov(x.T), n)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    var_a, var_b = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    a, b = FrechetStats(mu_a, np.diag(var_a), 10), FrechetStats(mu_b, np.diag(var_b), 10)
    expected = ((mu_a - mu_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_sqrtm_formula():
    rng = np.random.default_rng(1)
    a, b = _random_stats(rng, 6, 50), _random_stats(rng, 6, 40)
    covmean = linalg.sqrtm(a.cov @ b.cov).real
    diff = a.mean - b.mean
    expected = diff @ diff + np.trace(a.cov + b.cov - 2 * covmean)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_accumulator_weights_are_duplicates():
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(9, 4)), rng.integers(1, 5, 9)
    acc = FrechetAccumulator(dim=4)
    acc.add(x[:4], w[:4])
    acc.add(x[4:], w[4:])
    stats, repeated = acc.stats(), np.repeat(x, w, axis=0)
    assert stats.n == w.sum()
    np.testing.assert_allclose(stats.mean, repeated.mean(0))
    np.testing.assert_allclose(stats.cov, np.cov(repeated.T))
    with pytest.raises(ValueError, match="at least 2"):
        FrechetAccumulator(dim=4).stats()
    with pytest.raises(ValueError, match="weights"):
        acc.add(x[:2], np.array([1, -1]))


def test_stats_roundtrip(tmp_path):
    stats = _random_stats(np.random.default_rng(3), 3, 10)
    stats.save(tmp_path / "s.npz")
    loaded = FrechetStats.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert loaded.n == 10 and list(tmp_path.iterdir()) == [tmp_path / "s.npz"]


def test_activations_match_fcd_package():
    fcd = pytest.importorskip("fcd")
    model = fcd.load_ref_model()
    expected = fcd.get_predictions(model, SMILES, device="cpu")
    got = chemnet_activations(SMILES, batch_size=3)
    assert got.shape == (len(SMILES), 512)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert chemnet_activations([]).shape == (0, 512)


def test_activations_do_not_depend_on_the_batch():
    pytest.importorskip("fcd")
    together = chemnet_activations(SMILES)
    alone = np.concatenate([chemnet_activations([s]) for s in SMILES])
    split = np.concatenate([chemnet_activations(SMILES[:2]), chemnet_activations(SMILES[2:])])
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(split, together)


def test_accumulated_moments_do_not_depend_on_the_split_or_order():
    rng = np.random.default_rng(4)
    x = np.tanh(rng.normal(size=(60, 8))).astype(np.float32)  # ChemNet's range
    w = rng.integers(1, 6, 60)
    whole = FrechetAccumulator(dim=8)
    whole.add(x, w)
    parts = FrechetAccumulator(dim=8)
    order = rng.permutation(60)
    for block in np.array_split(order, 7):
        parts.add(x[block], w[block])
    a, b = whole.stats(), parts.stats()
    np.testing.assert_array_equal(a.mean, b.mean)  # bit for bit
    np.testing.assert_array_equal(a.cov, b.cov)
    repeated = np.repeat(x.astype(np.float64), w, axis=0)
    np.testing.assert_allclose(a.mean, repeated.mean(0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.cov, np.cov(repeated.T), rtol=0, atol=1e-10)


def test_a_weight_is_the_same_as_repeated_rows_exactly():
    rng = np.random.default_rng(5)
    x = np.tanh(rng.normal(size=(5, 3)))
    weighted, repeated = FrechetAccumulator(dim=3), FrechetAccumulator(dim=3)
    weighted.add(x, np.array([3, 1, 2, 1, 4]))
    for row, count in zip(x, [3, 1, 2, 1, 4], strict=True):
        for _ in range(count):
            repeated.add(row[None])
    np.testing.assert_array_equal(weighted.stats().cov, repeated.stats().cov)
    with pytest.raises(ValueError, match="integer"):
        weighted.add(x[:1], np.array([0.5]))


def test_a_long_smiles_does_not_change_other_activations():
    pytest.importorskip("fcd")
    long_alkane = "C" * 400  # longer than fcd's 350-step padding
    alone = chemnet_activations(SMILES)
    with_long = chemnet_activations([*SMILES, long_alkane])
    np.testing.assert_array_equal(with_long[: len(SMILES)], alone)
    # the long one is what fcd computes for it alone (padded to its own length)
    fcd = pytest.importorskip("fcd")
    expected = fcd.get_predictions(fcd.load_ref_model(), [long_alkane], device="cpu")
    np.testing.assert_allclose(with_long[-1:], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(chemnet_activations([long_alkane, "CCO"])[0], with_long[-1])
