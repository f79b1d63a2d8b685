"""Checks shared by the sampler tests: one-hot samples and goodness of fit."""

import torch
from scipy import stats

P_MIN = 1e-3  # significance level of every statistical test (fixed seeds: deterministic)


def assert_one_hot(y):
    assert torch.all((y == 0) | (y == 1))
    assert torch.all(y.sum(-1) == 1)


def assert_frequencies(counts, probs, n):
    """Pearson chi-square goodness of fit of category counts to probabilities."""
    counts = counts.double()
    assert counts.sum().item() == n
    allowed = probs > 0
    assert torch.all(counts[~allowed] == 0), "a zero-probability category was drawn"
    result = stats.chisquare(counts[allowed].numpy(), (probs[allowed] * n).numpy())
    assert result.pvalue > P_MIN, f"counts {counts.tolist()} vs probs {probs.tolist()}"
