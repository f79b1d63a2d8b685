"""molgen.nn.functional: distributions, gradients, masks, extremes, reproducibility."""

import math

import pytest
import torch
from scipy import stats

from molgen.nn import functional as F

LOGITS = [1.2, -0.3, 0.0, 2.1, -1.5]
P_MIN = 1e-3  # significance level of every statistical test (fixed seeds: deterministic)


def draws(logits, n, seed=0, **kwargs):
    """``n`` hard samples of one row of logits, as a [n, C] tensor (rows share the logits)."""
    logits = torch.as_tensor(logits) if not isinstance(logits, torch.Tensor) else logits
    gen = torch.Generator().manual_seed(seed)
    return F.gumbel_softmax(logits.expand(n, logits.shape[-1]), generator=gen, **kwargs)


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


# ------------------------------------------------------------------- sample distribution


@pytest.mark.parametrize(
    ("dtype", "logits"),
    [
        (torch.float32, LOGITS),
        (torch.bfloat16, LOGITS),
        # bf16 spacing is 0.5 at 100: bf16 noise arithmetic would tie and favour low indices
        (torch.bfloat16, [100.0, 100.5, 101.0, 100.0, 99.5]),
        (torch.bfloat16, [0.0] * 5),
        (torch.float16, LOGITS),
    ],
)
def test_hard_frequencies_match_softmax(dtype, logits):
    n = 1_000_000
    logits = torch.tensor(logits, dtype=dtype)
    y = draws(logits, n, tau=0.5)
    assert y.dtype == dtype and y.shape == (n, 5)
    assert_one_hot(y)
    assert_frequencies(y.double().sum(0), torch.softmax(logits.double(), -1), n)


def test_hard_sample_does_not_depend_on_tau():
    n = 200_000
    samples = [draws(LOGITS, n, tau=tau) for tau in (1e-4, 1e-2, 1.0, 100.0)]
    for other in samples[1:]:
        assert torch.equal(other, samples[0])
    assert_frequencies(samples[-1].sum(0), torch.softmax(torch.tensor(LOGITS).double(), -1), n)


def test_relaxed_noise_is_gumbel():
    """With two categories, tau * logit(y_0) - (theta_0 - theta_1) is Logistic(0, 1)."""
    n = 200_000
    theta = torch.tensor([0.7, -0.4], dtype=torch.float64)
    y = draws(theta, n, tau=1.0, hard=False)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y.sum(-1), torch.ones(n, dtype=torch.float64))
    noise = torch.logit(y[:, 0]) - (theta[0] - theta[1])
    assert stats.kstest(noise.numpy(), "logistic").pvalue > P_MIN


def test_hard_is_argmax_of_relaxed_with_same_noise():
    logits = torch.randn(1000, 7)
    for tau in (0.1, 1.0, 5.0):
        gen = torch.Generator().manual_seed(3)
        hard = F.gumbel_softmax(logits, tau, generator=gen)
        gen = torch.Generator().manual_seed(3)
        soft = F.gumbel_softmax(logits, tau, hard=False, generator=gen)
        assert torch.equal(hard.argmax(-1), soft.argmax(-1))
        torch.testing.assert_close(soft.sum(-1), torch.ones(1000))


def test_ties_are_broken_uniformly():
    """Exact ties of the perturbed maximum (rare with float32 noise) pick uniformly."""
    n = 30_000
    z = torch.tensor([1.0, 3.0, 3.0, 3.0, 0.0]).repeat(n, 1)
    one_hot = F._one_hot_of_max(z, z.amax(-1, keepdim=True), torch.Generator().manual_seed(0))
    assert_one_hot(one_hot)
    assert_frequencies(one_hot.sum(0), torch.tensor([0, 1 / 3, 1 / 3, 1 / 3, 0]), n)


# ------------------------------------------------------------------------------- masks


def test_masked_categories_never_drawn_and_rest_renormalised():
    n = 300_000
    mask = torch.tensor([True, False, True, False, True])
    y = draws(LOGITS, n, tau=0.3, mask=mask)
    expected = torch.softmax(torch.tensor(LOGITS).double().masked_fill(~mask, -math.inf), -1)
    assert_frequencies(y.sum(0), expected, n)


@pytest.mark.parametrize(
    ("hard", "estimator"), [(False, "st"), (True, "st"), (True, "gumbel_rao"), (True, "reinmax")]
)
def test_masked_entries_get_zero_gradient_and_inf_logits_act_as_mask(hard, estimator):
    mask = torch.rand(64, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[:, 2] = True  # every row keeps an allowed category
    weights = torch.randn(64, 6)
    base = torch.randn(64, 6)
    results = []
    for use_inf in (False, True):
        logits = base.masked_fill(~mask, -math.inf) if use_inf else base.clone()
        logits.requires_grad_()
        tau = torch.tensor(0.5, requires_grad=True)
        y = F.gumbel_softmax(
            logits,
            tau,
            hard=hard,
            estimator=estimator,
            mask=None if use_inf else mask,
            generator=torch.Generator().manual_seed(5),
        )
        (y * weights).sum().backward()
        assert torch.all(y[~mask] == 0)
        assert torch.isfinite(logits.grad).all()
        assert torch.all(logits.grad[~mask] == 0)
        assert logits.grad[mask].abs().sum() > 0
        if estimator != "reinmax":
            assert torch.isfinite(tau.grad)
        results.append((y.detach(), logits.grad))
    assert torch.equal(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


@pytest.mark.parametrize("hard", [True, False])
def test_row_without_allowed_category_is_an_error(hard):
    logits = torch.randn(3, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match="mask"):
        F.gumbel_softmax(logits, hard=hard, mask=mask)
    logits[2] = -math.inf
    with pytest.raises(ValueError, match="no allowed category"):
        F.gumbel_softmax(logits, hard=hard)


def test_empty_batch_works_and_no_categories_is_an_error():
    empty = F.gumbel_softmax(torch.randn(0, 5, requires_grad=True))
    assert empty.shape == (0, 5)
    with pytest.raises(ValueError, match="no categories"):
        F.gumbel_softmax(torch.randn(3, 0))


def test_single_category_fully_masked_is_an_error():
    with pytest.raises(ValueError, match="mask"):
        F.gumbel_softmax(torch.zeros(2, 1), mask=torch.zeros(2, 1, dtype=torch.bool))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": -1.0}, "tau"),
        ({"tau": math.nan}, "tau"),
        ({"tau": math.inf}, "tau"),
        ({"tau": torch.tensor([0.5, 0.0, 1.0]).unsqueeze(-1)}, "tau"),
        ({"tau": torch.ones(3, 5)}, "category dim"),
        ({"tau": torch.ones(2, 1)}, "broadcast"),
        ({"tau": torch.ones(2, 3, 1)}, "broadcast"),
        ({"tau": torch.tensor(math.inf)}, "tau"),
        ({"estimator": "rebar"}, "estimator"),
        ({"estimator": "reinmax", "hard": False}, "hard"),
        ({"mask": torch.ones(3, 5)}, "bool"),
        ({"mask": torch.ones(4, 5, dtype=torch.bool)}, "mask"),
        ({"dim": 2}, "dim"),
        ({"gumbel_rao_samples": 0, "estimator": "gumbel_rao"}, "gumbel_rao_samples"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.gumbel_softmax(torch.randn(3, 5), **kwargs)


@pytest.mark.parametrize(("bad", "match"), [(math.nan, "NaN"), (math.inf, r"\+inf")])
def test_nan_and_positive_inf_logits_are_errors(bad, match):
    logits = torch.randn(3, 5)
    logits[1, 2] = bad
    with pytest.raises(ValueError, match=match):
        F.gumbel_softmax(logits)


# --------------------------------------------------------------------------- gradients


def test_relaxed_gradient_matches_finite_differences():
    logits = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    tau = torch.rand(4, 1, dtype=torch.float64).add_(0.3).requires_grad_()

    def relaxed(a, t):
        return F.gumbel_softmax(a, t, hard=False, generator=torch.Generator().manual_seed(2))

    assert torch.autograd.gradcheck(relaxed, (logits, tau))
    assert torch.autograd.gradcheck(relaxed, (logits, tau[0, 0].detach().requires_grad_()))


def test_straight_through_gradient_equals_relaxed_gradient():
    weights = torch.randn(256, 6)
    grads = []
    for hard in (True, False):
        logits = torch.randn(256, 6, generator=torch.Generator().manual_seed(0))
        logits.requires_grad_()
        tau = torch.tensor(0.4, requires_grad=True)
        y = F.gumbel_softmax(logits, tau, hard=hard, generator=torch.Generator().manual_seed(9))
        (y * weights).sum().backward()
        grads.append((logits.grad, tau.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
    assert grads[0][0].abs().sum() > 0 and grads[0][1] != 0


# A small problem with an exact gradient by enumeration: E_{D ~ softmax(theta)} f(D),
# f(D) = ||D - t||^2 + (a . D)^2 (quadratic), so grad = J(pi)^T [f(e_1), ..., f(e_C)].
THETA = [0.6, -0.4, 0.1, -1.0]
TARGET = [0.2, 0.9, -0.4, 0.3]
A = [1.0, -0.5, 2.0, 0.3]


def objective(d):
    t, a = torch.tensor(TARGET, dtype=d.dtype), torch.tensor(A, dtype=d.dtype)
    return ((d - t) ** 2).sum(-1) + (d @ a) ** 2


def exact_gradient():
    theta = torch.tensor(THETA, dtype=torch.float64)
    pi = torch.softmax(theta, -1)
    values = objective(torch.eye(len(THETA), dtype=torch.float64))
    return pi * (values - (pi * values).sum())


def per_sample_gradients(n, tau, seed=0, **kwargs):
    """Gradient estimates of n independent draws, as [n, C] (one row of logits per draw)."""
    logits = torch.tensor(THETA).repeat(n, 1).requires_grad_()
    y = F.gumbel_softmax(logits, tau, generator=torch.Generator().manual_seed(seed), **kwargs)
    objective(y).sum().backward()
    return logits.grad.double()


def z_scores(a, b):
    """Per-coordinate z-scores of the difference between two sample means (or a mean and b)."""
    var = a.var(0) / a.shape[0]
    if b.dim() == 2:
        var = var + b.var(0) / b.shape[0]
        b = b.mean(0)
    return (a.mean(0) - b) / var.sqrt()


def test_exact_gradient_by_enumeration_is_correct():
    theta = torch.tensor(THETA, dtype=torch.float64, requires_grad=True)
    pi = torch.softmax(theta, -1)
    (pi * objective(torch.eye(4, dtype=torch.float64))).sum().backward()
    torch.testing.assert_close(theta.grad, exact_gradient())


def test_gumbel_rao_has_st_mean_and_lower_variance():
    n, tau = 100_000, 0.5
    st = per_sample_gradients(n, tau, seed=1)
    rao = per_sample_gradients(n, tau, seed=2, estimator="gumbel_rao", gumbel_rao_samples=16)
    assert z_scores(rao, st).abs().max() < 4.5  # same mean (4 coordinates, fixed seeds)
    assert rao.var(0).sum() < 0.5 * st.var(0).sum()  # clearly lower variance
    exact = exact_gradient()
    assert ((rao - exact) ** 2).sum(-1).mean() < ((st - exact) ** 2).sum(-1).mean()


def test_gumbel_rao_tau_gradient_has_st_mean():
    n = 100_000
    grads = []
    for seed, kwargs in ((3, {}), (4, {"estimator": "gumbel_rao", "gumbel_rao_samples": 8})):
        logits = torch.tensor(THETA).repeat(n, 1)
        tau = torch.full((n, 1), 0.5, requires_grad=True)
        y = F.gumbel_softmax(logits, tau, generator=torch.Generator().manual_seed(seed), **kwargs)
        objective(y).sum().backward()
        grads.append(tau.grad.double())
    assert z_scores(grads[1], grads[0]).abs().max() < 4.0
    assert grads[1].var() < 0.75 * grads[0].var()


def test_gumbel_rao_with_one_draw_is_st():
    st = per_sample_gradients(1000, 0.7, seed=5)
    rao = per_sample_gradients(1000, 0.7, seed=5, estimator="gumbel_rao", gumbel_rao_samples=1)
    torch.testing.assert_close(rao, st)


def test_reinmax_is_unbiased_at_tau_one_where_st_is_not():
    """ReinMax is second-order accurate: exact in expectation for this quadratic objective."""
    n = 200_000
    exact = exact_gradient()
    reinmax = per_sample_gradients(n, 1.0, seed=6, estimator="reinmax")
    assert z_scores(reinmax, exact).abs().max() < 4.5
    st = per_sample_gradients(n, 1.0, seed=7)
    assert z_scores(st, exact).abs().max() > 20  # the test can tell a biased estimator


def test_estimators_share_the_forward_sample():
    samples = [
        draws(LOGITS, 5000, seed=8, tau=0.5, estimator=estimator) for estimator in F.ESTIMATORS
    ]
    for other in samples[1:]:
        assert torch.equal(other, samples[0])


def test_reinmax_gives_no_tau_gradient():
    logits = torch.randn(8, 5, requires_grad=True)
    tau = torch.tensor(0.5, requires_grad=True)
    F.gumbel_softmax(logits, tau, estimator="reinmax").sum().backward()
    assert tau.grad is None and logits.grad is not None


# ---------------------------------------------------------------- extremes and precision


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("tau", [1e-4, 1e-2, 1.0, 1e2])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_no_nan_or_inf_at_extremes(dtype, tau, scale):
    gen = torch.Generator().manual_seed(0)
    base = (torch.randn(128, 7, generator=gen) * scale).to(dtype)
    weights = torch.randn(128, 7, generator=gen).to(dtype)
    settings = [(False, "st"), (True, "st"), (True, "gumbel_rao"), (True, "reinmax")]
    for hard, estimator in settings:
        logits = base.clone().requires_grad_()
        tau_t = torch.tensor(tau, requires_grad=True)
        y = F.gumbel_softmax(logits, tau_t, hard=hard, estimator=estimator, generator=gen)
        assert y.dtype == dtype and torch.isfinite(y).all()
        (y * weights).sum().backward()
        assert logits.grad.dtype == dtype and torch.isfinite(logits.grad).all()
        if estimator != "reinmax":
            assert torch.isfinite(tau_t.grad)


def test_low_precision_noise_is_never_infinite():
    y = draws(torch.zeros(16, dtype=torch.float16), 200_000, hard=False, tau=1e-4)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.float().sum(-1), torch.ones(200_000), atol=1e-2, rtol=0)


# ------------------------------------------------------------------- API conveniences


@pytest.mark.parametrize("estimator", F.ESTIMATORS)
def test_same_generator_seed_same_sample(estimator):
    logits = torch.randn(500, 6)
    a = F.gumbel_softmax(logits, estimator=estimator, generator=torch.Generator().manual_seed(4))
    b = F.gumbel_softmax(logits, estimator=estimator, generator=torch.Generator().manual_seed(4))
    c = F.gumbel_softmax(logits, estimator=estimator, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("estimator", F.ESTIMATORS)
def test_no_grad_gives_the_same_hard_sample_without_backward_work(estimator):
    logits = torch.randn(400, 6)
    mask = torch.rand(400, 6) > 0.3
    mask[:, 2] = True
    kwargs = {"estimator": estimator, "mask": mask, "gumbel_rao_samples": 4}
    with_grad = F.gumbel_softmax(
        logits.clone().requires_grad_(), 0.5, generator=torch.Generator().manual_seed(8), **kwargs
    )
    assert with_grad.grad_fn is not None
    gen = torch.Generator().manual_seed(8)
    with torch.no_grad():
        no_grad = F.gumbel_softmax(logits.clone().requires_grad_(), 0.5, generator=gen, **kwargs)
    plain = F.gumbel_softmax(logits, 0.5, generator=torch.Generator().manual_seed(8), **kwargs)
    assert torch.equal(no_grad, with_grad.detach()) and torch.equal(plain, no_grad)
    assert no_grad.grad_fn is None
    # Gumbel-Rao's conditional draws are skipped: the generator advanced by the forward noise only
    forward_only = torch.Generator().manual_seed(8)
    F._log_exponential(logits.shape, torch.float32, logits.device, forward_only)
    assert torch.equal(gen.get_state(), forward_only.get_state())


def test_global_rng_is_used_without_generator():
    logits = torch.randn(500, 6)
    torch.manual_seed(11)
    a = F.gumbel_softmax(logits)
    torch.manual_seed(11)
    assert torch.equal(a, F.gumbel_softmax(logits))


def test_dim_argument_moves_the_category_axis():
    logits = torch.randn(3, 5, 4)
    mask = torch.rand(3, 5, 1) > 0.3
    mask[:, 0] = True
    tau = torch.rand(3, 1, 4) + 0.5
    y = F.gumbel_softmax(logits, tau, dim=1, mask=mask, generator=torch.Generator().manual_seed(1))
    ref = F.gumbel_softmax(
        logits.movedim(1, -1),
        tau.movedim(1, -1),
        mask=mask.expand(3, 5, 4).movedim(1, -1),
        generator=torch.Generator().manual_seed(1),
    ).movedim(-1, 1)
    assert y.shape == logits.shape and torch.equal(y, ref)
    assert torch.all(y.sum(1) == 1)


def test_one_hot_argmax_respects_mask():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]], dtype=torch.bfloat16)
    mask = torch.tensor([[False, True, True], [True, True, True]])
    out = F.one_hot_argmax(logits, mask=mask)
    assert out.dtype == torch.bfloat16
    assert out.tolist() == [[0, 0, 1], [0, 1, 0]]


# ------------------------------------------------------------------ symmetric edges


def test_symmetric_samples_are_symmetric_with_no_edge_diagonal():
    logits = torch.randn(50, 6, 6, 4)
    node_mask = torch.rand(50, 6) > 0.3
    for hard, estimator in [(True, "st"), (True, "gumbel_rao"), (True, "reinmax"), (False, "st")]:
        adj = F.symmetric_gumbel_softmax(
            logits, 0.5, hard=hard, estimator=estimator, node_mask=node_mask
        )
        assert adj.shape == logits.shape
        assert torch.equal(adj, adj.transpose(1, 2))
        no_edge = torch.zeros(4)
        no_edge[0] = 1
        assert torch.equal(adj.diagonal(dim1=1, dim2=2), no_edge.expand(50, 6, 4).mT)
        absent = ~(node_mask.unsqueeze(2) & node_mask.unsqueeze(1))
        assert torch.equal(adj[absent], no_edge.expand(int(absent.sum()), 4))
        if hard:
            assert_one_hot(adj)


def test_symmetric_edge_frequencies_match_symmetrised_probabilities():
    n = 100_000
    logits = torch.randn(1, 4, 4, 3, generator=torch.Generator().manual_seed(0)) * 1.5
    adj = F.symmetric_gumbel_softmax(
        logits.expand(n, 4, 4, 3), 0.7, generator=torch.Generator().manual_seed(1)
    )
    probs = torch.softmax(((logits + logits.transpose(1, 2)) / 2)[0].double(), -1)
    counts = adj.double().sum(0)
    rows, cols = torch.triu_indices(4, 4, offset=1)
    observed = counts[rows, cols].flatten().numpy()
    expected = (probs[rows, cols] * n).flatten().numpy()
    # 6 independent pairs, 3 classes each: 6 * 2 degrees of freedom
    statistic = ((observed - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(statistic, df=12) > P_MIN


def test_symmetric_gradients_reach_both_entries():
    logits = torch.randn(8, 5, 5, 3, requires_grad=True)
    node_mask = torch.ones(8, 5, dtype=torch.bool)
    node_mask[:, 4] = False
    weights = torch.randn(8, 5, 5, 3)
    adj = F.symmetric_gumbel_softmax(logits, 0.5, node_mask=node_mask)
    (adj * weights).sum().backward()
    grad = logits.grad
    torch.testing.assert_close(grad, grad.transpose(1, 2))
    rows, cols = torch.triu_indices(4, 4, offset=1)
    assert grad[:, rows, cols].abs().sum(-1).gt(0).all()  # every pair of present nodes
    assert torch.all(grad[:, 4] == 0) and torch.all(grad.diagonal(dim1=1, dim2=2) == 0)


def test_symmetric_pair_gradient_equals_pairwise_sampler():
    """The pair (i, j) gets (W_ij + W_ji)/2 of the pairwise ST gradient on each entry."""
    logits = torch.randn(2, 4, 4, 3, requires_grad=True)
    weights = torch.randn(2, 4, 4, 3)
    adj = F.symmetric_gumbel_softmax(logits, 0.8, generator=torch.Generator().manual_seed(3))
    (adj * weights).sum().backward()
    rows, cols = torch.triu_indices(4, 4, offset=1)
    pairs = ((logits[:, rows, cols] + logits[:, cols, rows]) / 2).detach().requires_grad_()
    sample = F.gumbel_softmax(pairs, 0.8, generator=torch.Generator().manual_seed(3))
    (sample * (weights[:, rows, cols] + weights[:, cols, rows])).sum().backward()
    assert torch.equal(sample, adj[:, rows, cols].detach())
    torch.testing.assert_close(logits.grad[:, rows, cols], pairs.grad / 2)


@pytest.mark.parametrize("hard", [True, False])
def test_symmetric_pair_logits_sample_like_their_dense_mirror(hard):
    """Pair logits [B, P, C] give the sample and gradient of the dense symmetric logits."""
    n = 5
    rows, cols = torch.triu_indices(n, n, offset=1)
    pairs = torch.randn(3, len(rows), 4, requires_grad=True)
    dense = torch.zeros(3, n, n, 4)
    dense[:, rows, cols] = dense[:, cols, rows] = pairs.detach()
    dense.requires_grad_()
    node_mask = torch.tensor([[1, 1, 1, 0, 1]] * 3, dtype=torch.bool)
    weights = torch.randn(3, n, n, 4)
    samples = []
    for logits in (pairs, dense):
        seed = torch.Generator().manual_seed(11)
        adj = F.symmetric_gumbel_softmax(
            logits, 0.7, hard=hard, node_mask=node_mask, generator=seed
        )
        (adj * weights).sum().backward()
        samples.append(adj.detach())
    assert torch.equal(samples[0], samples[1])
    # Each dense entry of a pair gets half of the pair's gradient.
    torch.testing.assert_close(dense.grad[:, rows, cols] * 2, pairs.grad)
    assert torch.equal(
        F.symmetric_one_hot_argmax(pairs, node_mask), F.symmetric_one_hot_argmax(dense, node_mask)
    )


def test_symmetric_one_hot_argmax_is_the_symmetric_mode():
    logits = torch.randn(3, 5, 5, 4)
    node_mask = torch.tensor([[1, 1, 1, 1, 0]] * 3, dtype=torch.bool)
    mode = F.symmetric_one_hot_argmax(logits, node_mask=node_mask)
    assert torch.equal(mode, mode.transpose(1, 2))
    expected = ((logits + logits.transpose(1, 2)) / 2).argmax(-1)
    expected[:, 4, :] = expected[:, :, 4] = 0
    expected.diagonal(dim1=1, dim2=2).zero_()
    assert torch.equal(mode.argmax(-1), expected)


@pytest.mark.parametrize(
    ("logits", "node_mask", "match"),
    [
        (torch.randn(2, 4, 5, 3), None, r"\[B, N, N, C\]"),
        (torch.randn(4, 4, 3), None, r"P = N\(N-1\)/2"),  # 4 is no pair count
        (torch.randn(4, 4), None, r"\[B, N, N, C\]"),
        (torch.randn(2, 4, 4, 3), torch.ones(2, 3, dtype=torch.bool), "node_mask"),
        (
            torch.randn(2, 6, 3),
            torch.ones(
                2,
                3,
                dtype=torch.bool,
            ),
            "node_mask",
        ),
        (torch.randn(2, 4, 4, 3), torch.ones(2, 4), "bool"),
    ],
)
def test_symmetric_bad_arguments(logits, node_mask, match):
    with pytest.raises(ValueError, match=match):
        F.symmetric_gumbel_softmax(logits, node_mask=node_mask)


def test_symmetric_single_node_graph():
    adj = F.symmetric_gumbel_softmax(torch.randn(2, 1, 1, 3, requires_grad=True))
    assert adj.tolist() == [[[[1.0, 0.0, 0.0]]]] * 2


# ------------------------------------------------------------- budgeted symmetric edges

COST = torch.tensor([0.0, 1.0, 2.0, 3.0])


def budgeted(logits, budget, cost=COST, seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return F.budgeted_symmetric_gumbel_softmax(logits, budget, cost, generator=gen, **kwargs)


def spent(adj, cost=COST):
    """What each node spends in the one-hot edge tensor ``[B, N, N, C]``: ``[B, N]``."""
    return cost[adj.detach().argmax(-1)].sum(-1)


def components(adj, present):
    """Union-find components of the present nodes of one graph ``[N, N, C]``: root per node."""
    n = adj.shape[0]
    root = list(range(n))

    def find(i):
        while root[i] != i:
            i = root[i]
        return i

    classes = adj.argmax(-1)
    for i in range(n):
        for j in range(i + 1, n):
            if classes[i, j] != 0 and present[i] and present[j]:
                root[find(i)] = find(j)
    return [find(i) for i in range(n)]


def random_case(batch, n, seed, max_budget=4, p_absent=0.2):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, n * (n - 1) // 2, len(COST), generator=gen) * 2
    budget = torch.randint(0, max_budget + 1, (batch, n), generator=gen).float()
    node_mask = torch.rand(batch, n, generator=gen) > p_absent
    return logits, budget, node_mask


@pytest.mark.parametrize("dense", [False, True])
def test_budgeted_with_unlimited_budgets_matches_symmetric_frequencies(dense):
    n, size = 100_000, 4
    logits = torch.randn(1, size, size, 3, generator=torch.Generator().manual_seed(0)) * 1.5
    logits = (logits + logits.transpose(1, 2)) / 2
    rows, cols = torch.triu_indices(size, size, offset=1)
    x = logits.expand(n, -1, -1, -1) if dense else logits[:, rows, cols].expand(n, -1, -1)
    budget = torch.full((n, size), math.inf)
    adj = budgeted(x, budget, COST[:3], tau=0.7)
    probs = torch.softmax(logits[0].double(), -1)
    counts = adj.double().sum(0)
    observed = counts[rows, cols].flatten().numpy()
    expected = (probs[rows, cols] * n).flatten().numpy()
    statistic = ((observed - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(statistic, df=12) > P_MIN  # 6 pairs, 3 classes each


def test_budgeted_joint_distribution_follows_the_round_order():
    """N = 3: rounds (1, 2), (0, 1), (0, 2); each pair is softmax over the classes that fit
    both ends' budget left by the earlier rounds. Exact joint law by enumeration."""
    n = 200_000
    cost = COST[:3]
    pair_logits = torch.tensor([[0.3, 0.8, -0.2], [0.1, 0.5, 0.9], [-0.4, 1.0, 0.6]])
    budget = torch.tensor([2.0, 2.0, 3.0])
    order = [(1, 2), (0, 1), (0, 2)]
    index = {(0, 1): 0, (0, 2): 1, (1, 2): 2}
    expected = torch.zeros(3, 3, 3, dtype=torch.float64)  # classes of pairs (0,1), (0,2), (1,2)
    for outcome in torch.cartesian_prod(*[torch.arange(3)] * 3).tolist():
        remaining, prob = budget.clone(), 1.0
        for i, j in order:
            c = outcome[index[(i, j)]]
            fits = cost <= torch.minimum(remaining[i], remaining[j])
            theta = pair_logits[index[(i, j)]].double().masked_fill(~fits, -math.inf)
            probs = torch.softmax(theta, -1)
            prob *= probs[c].item()
            remaining[i] -= cost[c]
            remaining[j] -= cost[c]
        expected[tuple(outcome)] = prob
    adj = budgeted(pair_logits.expand(n, 3, 3), budget.expand(n, 3), cost)
    classes = adj.argmax(-1)
    joint = classes[:, 0, 1] * 9 + classes[:, 0, 2] * 3 + classes[:, 1, 2]
    counts = torch.bincount(joint, minlength=27).double()
    assert_frequencies(counts, expected.flatten(), n)


@pytest.mark.parametrize("tau", [1.0, 0.6])
def test_earlier_joint_distribution_is_tree_then_rounds(tau):
    """N = 3, connect="earlier": node 1 draws (0, 1)'s class among those >= 1 that fit; node 2
    draws (j, c) jointly over j in {0, 1}, c >= 1 that fit; the pair outside the tree is then
    drawn within what is left (class 0 always allowed). Exact joint law by enumeration; tau
    changes no hard sample."""
    n = 200_000
    cost = COST[:3]
    pair_logits = torch.tensor([[0.3, 0.8, -0.2], [0.1, 0.5, 0.9], [-0.4, 1.0, 0.6]])
    budget = torch.tensor([3.0, 2.0, 3.0])
    index = {(0, 1): 0, (0, 2): 1, (1, 2): 2}
    theta = pair_logits.double()

    def fitting(remaining, i, j):
        return cost <= torch.minimum(remaining[i], remaining[j])

    expected = torch.zeros(27, dtype=torch.float64)
    for outcome in torch.cartesian_prod(*[torch.arange(3)] * 3).tolist():
        c01, c02, c12 = outcome
        fits = fitting(budget, 0, 1)
        fits[0] = False
        p_tree1 = torch.softmax(theta[0].masked_fill(~fits, -math.inf), -1)[c01].item()
        if p_tree1 == 0:
            continue
        after1 = budget.double().clone()
        after1[:2] -= cost[c01]
        # node 2: (j, c) over j = 0, 1 and c = 1, 2
        options = torch.cat([theta[index[(j, 2)], 1:] for j in (0, 1)])
        fits = torch.cat([fitting(after1, j, 2)[1:] for j in (0, 1)])
        probs = torch.softmax(options.masked_fill(~fits, -math.inf), -1)
        prob = 0.0
        for j, c in ((0, c02), (1, c12)):  # which of node 2's edges the tree drew
            if c == 0 or probs[j * 2 + c - 1] == 0:
                continue
            left = after1.clone()
            left[[j, 2]] -= cost[c]
            other = (1 - j, 2)  # outside the tree: drawn within what is left
            fit = fitting(left, *other)
            p_other = torch.softmax(theta[index[other]].masked_fill(~fit, -math.inf), -1)
            prob += probs[j * 2 + c - 1].item() * p_other[outcome[index[other]]].item()
        expected[c01 * 9 + c02 * 3 + c12] = p_tree1 * prob
    assert abs(expected.sum().item() - 1) < 1e-12
    adj = budgeted(pair_logits.expand(n, 3, 3), budget.expand(n, 3), cost, tau=tau,
                   connect="earlier")  # fmt: skip
    classes = adj.argmax(-1)
    joint = classes[:, 0, 1] * 9 + classes[:, 0, 2] * 3 + classes[:, 1, 2]
    assert_frequencies(torch.bincount(joint, minlength=27), expected, n)


def test_earlier_connects_whenever_a_tree_in_node_order_exists():
    """Tight budgets and logits that favour dear edges: whenever the nodes' budgets admit a tree
    of single edges in node order (the room of the nodes before each present node, each
    attached by a single edge, is at least 1), every present node bonds an earlier one."""
    n, batch = 8, 400
    feasible_seen = infeasible_seen = 0
    for seed in range(3):
        logits, _, node_mask = random_case(batch, n, seed=seed + 20, p_absent=0.2)
        logits[..., 2:] += 3.0  # double and triple edges would use up the room first
        gen = torch.Generator().manual_seed(seed)
        budget = torch.randint(1, 5, (batch, n), generator=gen).float()
        adj = budgeted(logits, budget, node_mask=node_mask, connect="earlier", seed=seed)
        assert torch.all(spent(adj) <= budget)
        classes = adj.argmax(-1)
        for b in range(batch):
            present = [i for i in range(n) if node_mask[b, i]]
            room, feasible = 0.0, True
            for k in present:
                if k != present[0]:
                    feasible &= room >= 1
                    room -= 2
                room += budget[b, k].item()
            attached = all(
                any(classes[b, j, i] != 0 for j in present if j < i) for i in present[1:]
            )
            if feasible:
                assert attached
            feasible_seen += feasible
            infeasible_seen += not feasible
    assert feasible_seen > 300 and infeasible_seen > 100


def test_earlier_keeps_room_for_later_nodes():
    """Budgets 2, 2, 1 and a near-certain double edge (0, 1): a double edge would leave no
    room for node 2, so the tree edge (0, 1) is single and node 2 bonds node 0 or 1."""
    cost = COST[:3]
    logits = torch.tensor([[[0.0, 0.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]).expand(500, 3, 3)
    adj = budgeted(logits, torch.tensor([2.0, 2.0, 1.0]).expand(500, 3), cost, connect="earlier")
    classes = adj.argmax(-1)
    assert torch.all(classes[:, 0, 1] == 1)
    assert torch.all((classes[:, 0, 2] != 0) | (classes[:, 1, 2] != 0))


def test_tree_attachable_matches_a_loop_over_the_nodes():
    """Against the rule walked node by node: a present node attaches if the tree so far has
    room for the cheapest edge (1 here), and then adds its budget less both ends' cost."""
    gen = torch.Generator().manual_seed(0)
    budget = torch.randint(0, 5, (500, 8), generator=gen).float()
    budget[:50, 3] = math.inf
    node_mask = torch.rand(500, 8, generator=gen) > 0.25
    kept = F.tree_attachable(budget, COST, node_mask)
    dropped = 0
    for b in range(500):
        room, closed = None, False  # None: no tree yet
        for i in range(8):
            expected = bool(node_mask[b, i]) and not closed
            if expected and room is None:
                room = budget[b, i].item()
            elif expected:
                expected = room >= 1
                room += budget[b, i].item() - 2 if expected else 0
            closed = closed or (room is not None and room < 1) or (node_mask[b, i] and not expected)
            assert bool(kept[b, i]) == expected, (b, i)
            dropped += bool(node_mask[b, i]) and not expected
    assert dropped > 100
    all_present = torch.ones_like(node_mask)
    assert torch.equal(
        F.tree_attachable(budget, COST), F.tree_attachable(budget, COST, all_present)
    )


@pytest.mark.parametrize("connect", [False, "earlier", "join"])
@pytest.mark.parametrize(("hard", "estimator"), [(True, "st"), (True, "reinmax"), (False, "st")])
def test_budgets_are_never_exceeded(connect, hard, estimator):
    binding = 0
    for seed, n in enumerate([2, 3, 4, 5, 6, 7, 9]):
        logits, budget, node_mask = random_case(300, n, seed)
        adj = budgeted(
            logits, budget, node_mask=node_mask, connect=connect, hard=hard, estimator=estimator
        )
        used = spent(adj)
        assert torch.all(used <= budget)
        binding += int((used == budget)[budget > 0].sum())
    assert binding > 100  # the budgets did constrain the samples


def test_budgeted_samples_are_symmetric_one_hot_and_respect_node_mask():
    logits, budget, node_mask = random_case(200, 6, seed=1, max_budget=8)
    for connect in (False, "earlier", "join"):
        adj = budgeted(logits, budget, node_mask=node_mask, connect=connect, tau=0.5)
        assert adj.shape == (200, 6, 6, 4) and torch.equal(adj, adj.transpose(1, 2))
        assert_one_hot(adj)
        assert torch.all(adj.diagonal(dim1=1, dim2=2)[:, 0] == 1)
        absent = ~(node_mask.unsqueeze(2) & node_mask.unsqueeze(1))
        assert torch.all(adj[absent][:, 0] == 1)


def test_budgeted_dense_input_equals_pair_input():
    logits = torch.randn(50, 5, 5, 4)
    budget = torch.randint(0, 5, (50, 5)).float()
    rows, cols = torch.triu_indices(5, 5, offset=1)
    pairs = (logits[:, rows, cols] + logits[:, cols, rows]) / 2
    for connect in (False, "earlier", "join"):
        dense = budgeted(logits, budget, seed=3, connect=connect)
        assert torch.equal(dense, budgeted(pairs, budget, seed=3, connect=connect))


@pytest.mark.parametrize("connect", ["earlier", "join", True])
def test_connect_with_ample_budgets_gives_connected_graphs(connect):
    n = 7
    logits, _, node_mask = random_case(300, n, seed=2, p_absent=0.3)
    logits[..., 0] += 3.0  # mostly no edge: unconstrained samples are fragmented
    budget = torch.full((300, n), (n - 1) * 3.0)
    free = budgeted(logits, budget, node_mask=node_mask)
    adj = budgeted(logits, budget, node_mask=node_mask, connect=connect)
    fragmented = 0
    for b in range(300):
        present = node_mask[b].tolist()
        roots = {r for r, p in zip(components(adj[b], present), present, strict=True) if p}
        assert len(roots) <= 1
        free_roots = components(free[b], present)
        fragmented += len({r for r, p in zip(free_roots, present, strict=True) if p}) > 1
        if connect == "earlier":  # every present node bonds an earlier present node
            classes = adj[b].argmax(-1)
            for i in range(n):
                earlier = [j for j in range(i) if present[j]]
                if present[i] and earlier:
                    assert any(classes[j, i] != 0 for j in earlier)
    assert fragmented > 100


def test_join_stops_only_when_no_allowed_edge_joins_two_fragments():
    """Tight budgets: after joining, no pair of present nodes in different fragments has
    room for the cheapest edge at both ends (checked from the output alone)."""
    for seed, n in enumerate([3, 4, 5, 6, 8]):
        logits, budget, node_mask = random_case(300, n, seed + 10, max_budget=3)
        logits[..., 0] += 2.0
        adj = budgeted(logits, budget, node_mask=node_mask, connect="join")
        room = budget - spent(adj)
        for b in range(300):
            present = node_mask[b].tolist()
            roots = components(adj[b], present)
            for i in range(n):
                for j in range(i + 1, n):
                    if present[i] and present[j] and roots[i] != roots[j]:
                        assert min(room[b, i], room[b, j]) < 1


def test_join_adds_the_highest_logit_allowed_edges_with_gradient():
    cost = COST[:3]
    # pairs (0, 1), (0, 2), (1, 2); class 0 certain, so the sample has no edge before joining
    logits = torch.tensor([[[60.0, 1.0, 2.0], [60.0, 3.0, 0.0], [60.0, 2.5, 0.0]]])
    logits.requires_grad_()
    budget = torch.tensor([[1.0, 3.0, 3.0]])
    adj = budgeted(logits, budget, cost, connect="join")
    # (0, 2) class 1 first (logit 3); node 0 is then full, so {1} joins through (1, 2) class 1
    assert adj[0].argmax(-1).tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    adj[0, 0, 2, 1].backward()
    assert logits.grad[0, 1].abs().sum() > 0 and torch.all(torch.isfinite(logits.grad))
    mode = F.budgeted_symmetric_one_hot_argmax(logits, budget, cost, connect="join")
    assert torch.equal(mode, adj.detach())


@pytest.mark.parametrize("connect", [False, "earlier", "join"])
def test_budgeted_same_seed_same_sample(connect):
    logits, budget, node_mask = random_case(100, 6, seed=4)
    a = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=1)
    b = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=1)
    c = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("estimator", F.ESTIMATORS)
@pytest.mark.parametrize("connect", [False, "earlier", "join"])
def test_budgeted_gradients_reach_every_unmasked_entry(estimator, connect):
    """Class 3 costs more than any budget (always masked); the budgets are ample for the rest.
    Float64, so that no relaxed sample saturates to an exact one-hot (zero ST gradient)."""
    n = 5
    logits = torch.randn(40, n * (n - 1) // 2, 4, dtype=torch.float64, requires_grad=True)
    node_mask = torch.ones(40, n, dtype=torch.bool)
    node_mask[:20, 3] = False
    cost = torch.tensor([0.0, 1.0, 2.0, 9.0])
    adj = budgeted(
        logits, torch.full((40, n), 8.0), cost, node_mask=node_mask, connect=connect,
        estimator=estimator,
    )  # fmt: skip
    weights = torch.randn(adj.shape, generator=torch.Generator().manual_seed(0), dtype=adj.dtype)
    (adj * weights).sum().backward()
    grad = logits.grad
    assert torch.all(torch.isfinite(grad))
    rows, cols = torch.triu_indices(n, n, offset=1)
    present = node_mask[:, rows] & node_mask[:, cols]
    assert torch.all(grad[..., 3] == 0) and torch.all(grad[~present] == 0)
    assert torch.all(grad[present][:, 1:3] != 0)
    # "earlier" masks class 0 where it forces an edge: those pairs hold an edge
    no_class0_grad = present & (grad[..., 0] == 0)
    drawn = adj.detach()[:, rows, cols].argmax(-1)
    assert torch.all(drawn[no_class0_grad] != 0)
    assert connect == "earlier" or not no_class0_grad.any()


def test_budgeted_no_grad_gives_the_same_sample():
    logits, budget, node_mask = random_case(100, 6, seed=5)
    for estimator in F.ESTIMATORS:
        kwargs = {"node_mask": node_mask, "estimator": estimator, "connect": "join", "seed": 6}
        with_grad = budgeted(logits.clone().requires_grad_(), budget, **kwargs)
        with torch.no_grad():
            assert torch.equal(budgeted(logits, budget, **kwargs), with_grad.detach())


def test_budgeted_argmax_is_the_mode_with_unlimited_budgets_and_respects_budgets():
    logits = torch.randn(30, 6, 6, 4)
    node_mask = torch.rand(30, 6) > 0.2
    unlimited = torch.full((30, 6), math.inf)
    mode = F.budgeted_symmetric_one_hot_argmax(logits, unlimited, COST, node_mask=node_mask)
    assert torch.equal(mode, F.symmetric_one_hot_argmax(logits, node_mask=node_mask))
    budget = torch.randint(0, 4, (30, 6)).float()
    for connect in (False, "earlier", "join"):
        mode = F.budgeted_symmetric_one_hot_argmax(logits, budget, COST, connect=connect)
        assert torch.all(spent(mode) <= budget) and torch.equal(mode, mode.transpose(1, 2))


@pytest.mark.parametrize(
    ("logits", "budget", "cost", "kwargs", "match"),
    [
        (torch.randn(2, 6, 4), torch.ones(2, 5), COST, {}, r"\[B, N\(N-1\)/2, C\]"),
        (torch.randn(2, 4, 5, 4), torch.ones(2, 4), COST, {}, r"\[B, N, N, C\]"),
        (torch.randn(2, 6), torch.ones(2, 4), COST, {}, "logits must have shape"),
        (torch.randn(2, 6, 4), torch.ones(2, 4, 1), COST, {}, "budget"),
        (torch.randn(2, 6, 4), -torch.ones(2, 4), COST, {}, "budget must be >= 0"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST[:3], {}, r"cost must have shape \[C\]"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), -COST, {}, "cost must be finite and >= 0"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST + 1, {}, r"cost\[0\]"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"tau": 0.0}, "tau"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"connect": "spanning"}, "connect"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"estimator": "x"}, "estimator"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"max_cycle": 1}, "max_cycle"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"max_cycle": 4.0}, "max_cycle"),
        (
            torch.randn(2, 6, 4),
            torch.ones(2, 4),
            COST,
            {"node_mask": torch.ones(2, 3, dtype=torch.bool)},
            "node_mask",
        ),
    ],
)
def test_budgeted_bad_arguments(logits, budget, cost, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.budgeted_symmetric_gumbel_softmax(logits, budget, cost, **kwargs)


def short_cycles_span(adj, max_cycle):
    """Whether the cycles of at most ``max_cycle`` edges of one graph (one-hot ``[N, N, C]``,
    class 0 = no edge) span its cycle space, i.e. a minimum cycle basis has no longer cycle:
    simple cycles enumerated by depth-first search, their edge sets' GF(2) rank against the
    cycle rank E - N + components."""
    n = adj.shape[0]
    classes = adj.argmax(-1)
    neighbours = [[j for j in range(n) if j != i and classes[i, j] != 0] for i in range(n)]
    bit = {}
    for i in range(n):
        for j in neighbours[i]:
            bit.setdefault(frozenset((i, j)), 1 << len(bit))
    cycles = set()

    def walk(start, node, mask, used, length):
        for nxt in neighbours[node]:
            edge = bit[frozenset((node, nxt))]
            if nxt == start and length >= 2 and not edge & mask:
                cycles.add(mask | edge)
            elif nxt > start and not used >> nxt & 1 and length < max_cycle - 1:
                walk(start, nxt, mask | edge, used | 1 << nxt, length + 1)

    for start in range(n):
        walk(start, start, 0, 1 << start, 0)
    basis = []  # GF(2) elimination on bit masks
    for vector in cycles:
        for b in basis:
            vector = min(vector, vector ^ b)
        if vector:
            basis.append(vector)
    n_components = len(set(components(adj, torch.ones(n, dtype=torch.bool))))
    return len(basis) == len(bit) - n + n_components


@pytest.mark.parametrize("connect", [False, "earlier", "join"])
def test_max_cycle_leaves_no_longer_ring(connect):
    """Every cycle of a minimum cycle basis (RDKit's rings) has at most ``max_cycle`` edges,
    checked against cycles enumerated independently; without the rule many graphs have a
    longer one, and with it edges still close short cycles."""
    n, batch = 8, 150
    logits, _, node_mask = random_case(batch, n, seed=11, p_absent=0.1)
    logits[..., 1] += 1.5  # mostly single edges: many cycles
    budget = torch.full((batch, n), 4.0)
    for max_cycle in (3, 4):
        free = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=2)
        capped = budgeted(
            logits, budget, node_mask=node_mask, connect=connect, seed=2, max_cycle=max_cycle
        )
        assert torch.all(spent(capped) <= budget)
        longer = sum(not short_cycles_span(free[b], max_cycle) for b in range(batch))
        assert longer > 10
        assert all(short_cycles_span(capped[b], max_cycle) for b in range(batch))
        n_edges = (capped.argmax(-1) != 0).sum((1, 2)) // 2
        present = node_mask.sum(1)
        assert int((n_edges >= present).sum()) > 20  # cycles were still closed
        if connect == "earlier":
            for b in range(batch):  # the tree comes first: still one piece
                roots = components(capped[b], node_mask[b])
                assert len({roots[i] for i in range(n) if node_mask[b, i]}) == 1


def test_max_cycle_two_gives_forests_and_large_values_change_nothing():
    logits, budget, node_mask = random_case(200, 7, seed=4, max_budget=6)
    for connect in (False, "earlier", "join"):
        forest = budgeted(logits, budget, node_mask=node_mask, connect=connect, max_cycle=2)
        n_edges = (forest.argmax(-1) != 0).sum((1, 2)) // 2
        for b in range(200):
            roots = components(forest[b], torch.ones(7, dtype=torch.bool))
            assert n_edges[b] == 7 - len(set(roots))  # edges = nodes - components: no cycle
        free = budgeted(logits, budget, node_mask=node_mask, connect=connect)
        for max_cycle in (7, 100):
            same = budgeted(
                logits, budget, node_mask=node_mask, connect=connect, max_cycle=max_cycle
            )
            assert torch.equal(same, free)
        mode = F.budgeted_symmetric_one_hot_argmax(
            logits, budget, COST, node_mask=node_mask, connect=connect, max_cycle=2
        )
        n_edges = (mode.argmax(-1) != 0).sum((1, 2)) // 2
        assert all(
            n_edges[b] == 7 - len(set(components(mode[b], torch.ones(7, dtype=torch.bool))))
            for b in range(200)
        )


def test_max_cycle_gradients_reach_the_entries_it_allows():
    logits, budget, node_mask = random_case(64, 6, seed=5, max_budget=6)
    logits.requires_grad_(True)
    adj = budgeted(logits, budget, node_mask=node_mask, connect="earlier", max_cycle=4)
    (adj * torch.randn_like(adj)).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert int((logits.grad != 0).sum()) > 0


def test_budgeted_single_node_graph():
    adj = F.budgeted_symmetric_gumbel_softmax(
        torch.randn(2, 0, 4, requires_grad=True), torch.ones(2, 1), COST, connect=True
    )
    assert adj.tolist() == [[[[1.0, 0.0, 0.0, 0.0]]]] * 2


def test_budgeted_estimators_share_the_sample():
    logits, budget, node_mask = random_case(100, 6, seed=7)
    samples = [
        budgeted(logits, budget, node_mask=node_mask, estimator=estimator, connect="earlier")
        for estimator in F.ESTIMATORS
    ]
    assert torch.equal(samples[0], samples[1]) and torch.equal(samples[0], samples[2])
