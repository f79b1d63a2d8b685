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
