"""molgen.nn.functional: distributions, gradients, masks, extremes, reproducibility."""

import math

import pytest
import torch
from sampling_checks import P_MIN, assert_frequencies, assert_one_hot
from scipy import stats

from molgen.nn import functional as F

LOGITS = [1.2, -0.3, 0.0, 2.1, -1.5]


def draws(logits, n, seed=0, **kwargs):
    """``n`` hard samples of one row of logits, as a [n, C] tensor (rows share the logits)."""
    logits = torch.as_tensor(logits) if not isinstance(logits, torch.Tensor) else logits
    gen = torch.Generator().manual_seed(seed)
    return F.gumbel_softmax(logits.expand(n, logits.shape[-1]), generator=gen, **kwargs)


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
