import numpy as np
import pytest

from molgen.metrics.similarity import max_tanimoto, mean_tanimoto_power, mean_tanimoto_powers


def _tanimoto(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def _random_bits(rng, n, n_bits=64, density=0.15):
    bits = (rng.random((n, n_bits)) < density).astype(np.uint8)
    bits[0] = 0  # an empty fingerprint: 0/0 counts as similarity 1 (MOSES)
    return bits


@pytest.fixture
def sets():
    rng = np.random.default_rng(7)
    return _random_bits(rng, 23), _random_bits(rng, 31)


def test_max_tanimoto_matches_pair_loop(sets):
    query, stock = sets
    expected = [max(_tanimoto(q, s) for s in stock) for q in query]
    got = max_tanimoto(np.packbits(query, axis=1), np.packbits(stock, axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_max_tanimoto_exclude_self_skips_diagonal(sets):
    query, _ = sets
    n = len(query)
    expected = [max(_tanimoto(query[i], query[j]) for j in range(n) if j != i) for i in range(n)]
    packed = np.packbits(query, axis=1)
    np.testing.assert_allclose(max_tanimoto(packed, packed, exclude_self=True), expected, rtol=1e-6)
    # without exclusion every molecule finds itself
    np.testing.assert_allclose(max_tanimoto(packed, packed), 1.0)


@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_mean_tanimoto_power_matches_pair_loop(sets, p):
    query, stock = sets
    expected = [np.mean([_tanimoto(q, s) ** p for s in stock]) ** (1 / p) for q in query]
    got = mean_tanimoto_power(np.packbits(query, axis=1), np.packbits(stock, axis=1), p)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_powers_in_one_pass_equal_separate_calls(sets):
    query, stock = (np.packbits(x, axis=1) for x in sets)
    weights = np.arange(1, len(stock) + 1)
    both = mean_tanimoto_powers(query, stock, (1, 2), weights)
    assert both.shape == (2, len(query))
    np.testing.assert_array_equal(both[0], mean_tanimoto_power(query, stock, 1, weights))
    np.testing.assert_array_equal(both[1], mean_tanimoto_power(query, stock, 2, weights))


def test_dense_fingerprints_count_exactly():
    # intersections of several hundred bits: beyond what an 8-bit float mantissa holds exactly
    rng = np.random.default_rng(3)
    query, stock = _random_bits(rng, 9, 2048, 0.6), _random_bits(rng, 11, 2048, 0.6)
    expected = [max(_tanimoto(q, s) for s in stock) for q in query]
    got = max_tanimoto(np.packbits(query, axis=1), np.packbits(stock, axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def test_all_empty_fingerprints_are_identical():
    empty = np.zeros((3, 8), np.uint8)
    np.testing.assert_array_equal(max_tanimoto(empty, empty), 1.0)
    np.testing.assert_array_equal(mean_tanimoto_power(empty, empty, 2), 1.0)


def test_weights_equal_duplicated_rows(sets):
    query, stock = (np.packbits(x, axis=1) for x in sets)
    weights = np.random.default_rng(1).integers(1, 4, len(stock))
    repeated = np.repeat(stock, weights, axis=0)
    np.testing.assert_allclose(
        mean_tanimoto_power(query, stock, 2, weights), mean_tanimoto_power(query, repeated, 2)
    )


def test_blocks_cover_long_queries(monkeypatch, sets):
    import molgen.metrics.similarity as similarity

    query, stock = (np.packbits(x, axis=1) for x in sets)
    full = max_tanimoto(query, stock)
    monkeypatch.setattr(similarity, "_BLOCK", 5)
    np.testing.assert_array_equal(max_tanimoto(query, stock), full)


def test_bad_arguments():
    a = np.zeros((2, 8), np.uint8)
    with pytest.raises(ValueError, match="alike"):
        max_tanimoto(a, np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match="same set"):
        max_tanimoto(a, np.zeros((3, 8), np.uint8), exclude_self=True)
    with pytest.raises(ValueError, match="p must be"):
        mean_tanimoto_power(a, a, 0)
    with pytest.raises(ValueError, match="stock_weights"):
        mean_tanimoto_power(a, a, 1, np.ones(3))


@pytest.mark.parametrize(
    ("n_query", "n_stock", "used_bits"),
    [(1, 1, 6), (1, 4, 6), (4, 1, 6), (2, 2, 6), (3, 5, 1), (1, 3, 1), (300, 1, 6)],
)
def test_degenerate_shapes_match_pair_loop(n_query, n_stock, used_bits):
    # a lone row or column, or one bit set anywhere: shapes whose strides numpy leaves
    # ambiguous; the int8 product must still read its operands exactly, every time
    rng = np.random.default_rng(n_query * 100 + n_stock * 10 + used_bits)
    query, stock = np.zeros((n_query, 64), np.uint8), np.zeros((n_stock, 64), np.uint8)
    query[:, 5 : 5 + used_bits] = rng.integers(0, 2, (n_query, used_bits))
    stock[:, 5 : 5 + used_bits] = rng.integers(0, 2, (n_stock, used_bits))
    query[0, 5], stock[0, 5] = 1, 1  # some overlap
    expected_max = [max(_tanimoto(q, s) for s in stock) for q in query]
    expected_mean = [np.mean([_tanimoto(q, s) ** 2 for s in stock]) ** 0.5 for q in query]
    packed_query, packed_stock = np.packbits(query, axis=1), np.packbits(stock, axis=1)
    for _ in range(10):
        np.testing.assert_allclose(max_tanimoto(packed_query, packed_stock), expected_max, 1e-6)
        got = mean_tanimoto_power(packed_query, packed_stock, 2)
        np.testing.assert_allclose(got, expected_mean, rtol=1e-6)
