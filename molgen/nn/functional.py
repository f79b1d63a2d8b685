r"""Gumbel-Softmax sampling of one-hot categorical tensors that still carry gradients.

Compared with :func:`torch.nn.functional.gumbel_softmax`, these functions take a ``generator``,
reject ``tau <= 0`` and rows with no allowed category, accept a ``mask``, never produce infinite
noise, compute in float32 for float16/bfloat16 inputs (no tie bias towards low indices), and run
as one :class:`torch.autograd.Function` with in-place work on a single buffer, saving only the
relaxed sample for backward.

Notation: logits :math:`\theta`, Gumbel noise :math:`g_i = -\log E_i` with
:math:`E_i \sim \mathrm{Exp}(1)`, temperature :math:`\tau`, relaxed sample
:math:`y = \mathrm{softmax}((\theta + g) / \tau)` and hard sample
:math:`D = \mathrm{onehot}(\arg\max_i (\theta_i + g_i))`, which is distributed as
:math:`\mathrm{Categorical}(\mathrm{softmax}(\theta))` whatever :math:`\tau`.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

__all__ = [
    "CONNECT_DEFAULT",
    "CONNECT_STRATEGIES",
    "ESTIMATORS",
    "budgeted_symmetric_gumbel_softmax",
    "budgeted_symmetric_one_hot_argmax",
    "gumbel_softmax",
    "one_hot_argmax",
    "symmetric_gumbel_softmax",
    "symmetric_one_hot_argmax",
    "tree_attachable",
]

#: Gradient estimators for ``hard=True``.
ESTIMATORS = ("st", "gumbel_rao", "reinmax")


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Work in float32 at least: low-precision noise ties and overflows."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _log_exponential(shape: torch.Size, dtype: torch.dtype, device, generator) -> Tensor:
    """:math:`\\log E` for :math:`E \\sim \\mathrm{Exp}(1)`, always finite.

    ``U`` is drawn in ``[tiny, 1 - eps/2)``, so ``E = -log U`` lies in ``(0, 87.4]`` for float32
    and ``log E`` in about ``[-16.6, 4.5]``: no clamping pass is needed and no noise is infinite.
    """
    finfo = torch.finfo(dtype)
    buf = torch.empty(shape, dtype=dtype, device=device)
    buf.uniform_(finfo.tiny, 1.0 - finfo.eps / 2, generator=generator)
    torch.log(buf, out=buf).neg_()
    return torch.log(buf, out=buf)


def _broadcasts_to(tensor: Tensor, target: Tensor) -> bool:
    """Whether ``tensor`` broadcasts to ``target``'s shape without enlarging it."""
    try:
        return torch.broadcast_shapes(tensor.shape, target.shape) == target.shape
    except RuntimeError:
        return False


def _validate_tau(tau: float | Tensor, logits: Tensor) -> float | Tensor:
    if isinstance(tau, Tensor):
        if not tau.is_floating_point():
            raise ValueError(f"tau must be a floating-point tensor, got dtype {tau.dtype}")
        if not _broadcasts_to(tau, logits):
            raise ValueError(
                f"tau of shape {tuple(tau.shape)} does not broadcast to logits "
                f"{tuple(logits.shape)}"
            )
        if not bool(((tau > 0) & torch.isfinite(tau)).all()):
            raise ValueError("tau must be finite and > 0 everywhere")
        return tau
    tau = float(tau)
    if not tau > 0 or math.isinf(tau):
        raise ValueError(f"tau must be a finite number > 0, got {tau}")
    return tau


def _validate_mask(mask: Tensor | None, logits: Tensor) -> Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor (True = allowed category)")
    if not _broadcasts_to(mask, logits):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to logits {tuple(logits.shape)}"
        )
    return mask.expand(logits.shape)


def _masked(logits: Tensor, mask: Tensor | None) -> Tensor:
    """``logits`` with disallowed categories set to ``-inf`` (a copy when masking)."""
    return logits if mask is None else logits.masked_fill(~mask, -math.inf)


def _check_rows(row_max: Tensor) -> None:
    """Raise on rows whose perturbed maximum is not finite (all masked, NaN or +inf logits)."""
    if bool(torch.isfinite(row_max).all()):
        return
    if bool(torch.isnan(row_max).any()):
        raise ValueError("logits contain NaN")
    if bool((row_max == math.inf).any()):
        raise ValueError("logits contain +inf")
    raise ValueError(
        "a row has no allowed category: every entry is excluded by `mask` or has logit -inf"
    )


def _shifted_exp(z: Tensor, row_max: Tensor, tau: float | Tensor) -> tuple[Tensor, Tensor]:
    """``softmax(z / tau)`` unnormalised: ``e = exp((z - max) / tau)`` and its row sums.

    Subtracting before scaling keeps ``z - max`` exact when ``|z|`` is large and ``tau`` small.
    These element-wise passes are several times faster than ``torch.softmax`` on CPU for few
    categories, and the division by the row sum is folded into the backward pass.
    """
    e = torch.sub(z, row_max)
    if isinstance(tau, Tensor) or tau != 1.0:
        e.div_(tau)
    e.exp_()
    return e, e.sum(-1, keepdim=True)


def _softmax_vjp(grad: Tensor, e: Tensor, total: Tensor | float, scale: Tensor | float) -> Tensor:
    """``scale * y * (grad - <grad, y>)`` for the softmax output ``y = e / total``."""
    grad_z = grad * e
    grad_z.addcmul_(e, grad_z.sum(-1, keepdim=True) / total, value=-1.0)
    return grad_z.mul_(scale / total)


def _one_hot_of_max(z: Tensor, row_max: Tensor, generator) -> Tensor:
    """Overwrite ``z`` with ``onehot(argmax z)``, breaking exact ties at random.

    ``z == max`` is a single pass (argmax is several times slower on CPU). Every row has at
    least one hit, so a total equal to the number of rows means no ties (float32 sums of ones
    are exact below 2**24). Float32 noise makes ties rare; rows that have one are resolved
    uniformly among the tied maxima, so no index is favoured.
    """
    torch.eq(z, row_max, out=z)
    rows = row_max.numel()
    if rows < 2**24 and int(z.sum()) == rows:
        return z
    tied = z.sum(-1) != 1
    if bool(tied.any()):
        hits = z[tied]
        pick = torch.multinomial(hits, 1, generator=generator)
        z[tied] = torch.zeros_like(hits).scatter_(-1, pick, 1.0)
    return z


def _reinmax_grad(grad: Tensor, one_hot: Tensor, probs: Tensor, probs_tau: Tensor) -> Tensor:
    """ReinMax (Liu et al., 2023): a second-order (Heun) correction of ST.

    With :math:`\\pi = \\mathrm{softmax}(\\theta)`, :math:`\\pi_\\tau =
    \\mathrm{softmax}(\\theta/\\tau)` and :math:`\\tilde\\pi = (\\pi_\\tau + D)/2`:
    :math:`\\nabla_\\theta = 2\\,J(\\tilde\\pi)^\\top g - \\tfrac12 J(\\pi)^\\top g`, where
    :math:`J(p) = \\mathrm{diag}(p) - p p^\\top`.
    """
    mid = one_hot.to(probs.dtype).add_(probs_tau).mul_(0.5)
    return _softmax_vjp(grad, mid, 1.0, 2.0).add_(_softmax_vjp(grad, probs, 1.0, -0.5))


def _conditional_relaxed(
    logits: Tensor, index: Tensor, tau: float | Tensor, draws: int, generator
) -> Tensor:
    r"""``draws`` relaxed samples ``softmax((theta + g) / tau)`` with ``g`` Gumbel noise drawn
    conditionally on ``argmax(theta + g) == index`` (Paulus et al., 2021), in log space.

    The maximum of :math:`\theta + g` is :math:`M = \log Z - \log E_k`; the other entries are
    truncated at it: :math:`-\log(E_j e^{-\theta_j} + e^{-M})`. Masked (``-inf``) logits stay
    ``-inf``. Returns ``[draws, *logits.shape]``.
    """
    log_e = _log_exponential((draws, *logits.shape), logits.dtype, logits.device, generator)
    index = index.expand(draws, *index.shape)
    top = torch.logsumexp(logits, -1, keepdim=True) - log_e.gather(-1, index)
    perturbed = torch.logaddexp(log_e - logits, -top).neg_()
    perturbed.scatter_(-1, index, top)
    return torch.softmax(perturbed.div_(tau), -1)


class _GumbelSoftmaxFn(torch.autograd.Function):
    """Sampling along the last dim; ``mask`` (expanded) and ``tau`` already validated.

    Saved for backward: the unnormalised relaxed sample ``e`` and its row sums (for
    ``"gumbel_rao"`` stacked with the K - 1 conditional draws), or for ``"reinmax"`` the
    sample and two softmaxes. The noise buffer itself becomes the one-hot output.
    """

    @staticmethod
    def forward(ctx, logits, tau, mask, hard, estimator, n_samples, generator, needs_grad):
        dtype = _compute_dtype(logits.dtype)
        tau_c = tau.to(dtype) if isinstance(tau, Tensor) else tau
        # z = theta + g, built in place on the noise buffer.
        z = _log_exponential(logits.shape, dtype, logits.device, generator)
        torch.sub(logits, z, out=z)
        if mask is not None:
            z.masked_fill_(~mask, -math.inf)
        row_max = z.amax(-1, keepdim=True)
        _check_rows(row_max)
        if hard and not needs_grad:
            # Nothing will call backward: skip the relaxed sample and the estimator's extra work.
            return _one_hot_of_max(z, row_max, generator).to(logits.dtype)
        e, total = _shifted_exp(z, row_max, tau_c)
        ctx.tau_is_tensor = isinstance(tau, Tensor)
        ctx.tau = None if ctx.tau_is_tensor else tau
        ctx.logits_dtype = logits.dtype
        ctx.estimator = estimator if hard else "relaxed"
        tau_saved = tau if ctx.tau_is_tensor else None
        if not hard:
            y = e.div_(total)
            ctx.save_for_backward(y, torch.ones_like(total), tau_saved)
            return y.to(logits.dtype)

        one_hot = _one_hot_of_max(z, row_max, generator).to(logits.dtype)
        if estimator == "reinmax":  # needs softmax(theta) and softmax(theta / tau), not the noise
            theta = _masked(logits.to(dtype), mask)
            probs_tau = torch.softmax(theta / tau_c, -1)
            ctx.save_for_backward(one_hot, torch.softmax(theta, -1), probs_tau)
        elif estimator == "gumbel_rao" and n_samples > 1:
            # The forward noise is itself one draw conditioned on the sample; add K - 1 more.
            theta = _masked(logits.to(dtype), mask)
            index = one_hot.argmax(-1, keepdim=True)
            extra = _conditional_relaxed(theta, index, tau_c, n_samples - 1, generator)
            totals = torch.cat([total.unsqueeze(0), total.new_ones((n_samples - 1, *total.shape))])
            ctx.save_for_backward(torch.cat([e.unsqueeze(0), extra]), totals, tau_saved)
        elif estimator == "gumbel_rao":
            ctx.save_for_backward(e.unsqueeze(0), total.unsqueeze(0), tau_saved)
        else:
            ctx.save_for_backward(e, total, tau_saved)
        return one_hot

    @staticmethod
    def backward(ctx, grad_out):
        dtype = _compute_dtype(ctx.logits_dtype)
        grad = grad_out.to(dtype)
        if ctx.estimator == "reinmax":
            grad_logits = _reinmax_grad(grad, *ctx.saved_tensors)
            return grad_logits.to(ctx.logits_dtype), None, None, None, None, None, None, None

        # For "gumbel_rao" es is [K, ...]: the ST gradients of the K conditional draws.
        es, totals, tau_tensor = ctx.saved_tensors
        tau = tau_tensor.to(dtype) if ctx.tau_is_tensor else ctx.tau
        # grad_z = dL/dz / tau, the gradient with respect to the logits.
        grad_z = _softmax_vjp(grad, es, totals, 1.0 / tau)
        grad_logits = grad_tau = None
        if ctx.tau_is_tensor and ctx.needs_input_grad[1]:
            # dL/dtau = -1/tau * sum_i dL/dz_i * z_i, and since sum_i dL/dz_i = 0 the row
            # constant log-sum-exp cancels: z_i may be replaced by log y_i (never large).
            per_row = -torch.special.xlogy(grad_z, es / totals).sum(-1, keepdim=True)
            if ctx.estimator == "gumbel_rao":
                per_row = per_row.mean(0)
            grad_tau = per_row.sum_to_size(tau_tensor.shape).to(tau_tensor.dtype)
        if ctx.needs_input_grad[0]:
            grad_logits = grad_z.mean(0) if ctx.estimator == "gumbel_rao" else grad_z
            grad_logits = grad_logits.to(ctx.logits_dtype)
        return grad_logits, grad_tau, None, None, None, None, None, None


def _align_tau(tau: float | Tensor, logits: Tensor, dim: int) -> float | Tensor:
    """Give a tensor ``tau`` the rank of ``logits`` and move ``dim`` last, like the logits."""
    if not isinstance(tau, Tensor) or tau.dim() == 0:
        return tau
    tau = tau.reshape((1,) * (logits.dim() - tau.dim()) + tuple(tau.shape))
    if tau.shape[dim] != 1:
        raise ValueError(
            f"tau of shape {tuple(tau.shape)} varies along the category dim {dim}; "
            "use one temperature per distribution"
        )
    return tau.movedim(dim, -1)


def gumbel_softmax(
    logits: Tensor,
    tau: float | Tensor = 1.0,
    *,
    hard: bool = True,
    estimator: str = "st",
    dim: int = -1,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    gumbel_rao_samples: int = 8,
) -> Tensor:
    r"""Sample one-hot (``hard=True``) or relaxed (``hard=False``) categorical tensors.

    .. math::
        y = \mathrm{softmax}\big((\theta + g)/\tau\big), \qquad
        D = \mathrm{onehot}\big(\arg\max_i\, \theta_i + g_i\big) \sim
        \mathrm{Categorical}(\mathrm{softmax}(\theta))

    Args:
        logits: unnormalised log-probabilities :math:`\theta`, shape :math:`(*, C, *)` with the
            categories along ``dim``; any floating dtype (float16/bfloat16 are computed in
            float32 and returned in their own dtype).
        tau: temperature :math:`\tau > 0`, a number or a tensor broadcastable to ``logits``
            with size 1 along ``dim`` (learnable: it receives a gradient for ``hard=False``,
            ``"st"`` and ``"gumbel_rao"``).
        hard: return the exact one-hot sample :math:`D` (values 0/1) instead of :math:`y`.
        estimator: the gradient of the hard sample. ``"st"``: straight-through, the gradient of
            :math:`y` drawn with the same noise. ``"gumbel_rao"`` (Paulus et al., 2021): the ST
            gradient averaged over ``gumbel_rao_samples`` noise draws conditioned on :math:`D`
            (the forward draw among them), same mean as ``"st"``, lower variance.
            ``"reinmax"`` (Liu et al., 2023): second-order accurate, does not use the noise
            and gives no gradient to ``tau``. Only ``"st"`` is valid with ``hard=False``.
        dim: the category dimension.
        mask: bool tensor broadcastable to ``logits``, True = allowed. Masked categories have
            probability 0, are never drawn and get zero gradient; ``-inf`` logits act the same.
        generator: source of randomness; with the same state, ``hard=True, estimator="st"``
            and ``hard=False`` use the same noise (:math:`D` is the argmax of :math:`y`).
            Under :func:`torch.no_grad` (or when neither ``logits`` nor ``tau`` requires grad)
            a hard sample is returned without the work only backward needs (the relaxed
            sample, ReinMax's softmaxes, Gumbel-Rao's extra draws, which then do not advance
            ``generator``); the sample itself is the same.
        gumbel_rao_samples: number of conditional draws :math:`K \ge 1` for ``"gumbel_rao"``
            (with :math:`K = 1` it equals ``"st"``).

    Returns:
        A tensor of the shape and dtype of ``logits``.

    Raises:
        ValueError: for ``tau <= 0``, an unknown estimator, a mask that is not bool or does not
            broadcast, or a row where every category is masked (or NaN / +inf logits).
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor")
    if logits.dim() == 0:
        raise ValueError("logits must have at least one dimension (the categories)")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if not hard and estimator != "st":
        raise ValueError(
            f"estimator={estimator!r} applies to hard samples only; the relaxed sample "
            "(hard=False) has an exact reparameterisation gradient"
        )
    if isinstance(gumbel_rao_samples, bool) or not isinstance(gumbel_rao_samples, int):
        raise ValueError(f"gumbel_rao_samples must be an int >= 1, got {gumbel_rao_samples!r}")
    if gumbel_rao_samples < 1:
        raise ValueError(f"gumbel_rao_samples must be >= 1, got {gumbel_rao_samples}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits with {logits.dim()} dims")
    if generator is not None and generator.device.type != logits.device.type:
        raise ValueError(f"generator is on {generator.device} but logits are on {logits.device}")
    if logits.shape[dim] == 0:
        raise ValueError(f"logits have no categories along dim={dim} (shape {tuple(logits.shape)})")
    tau = _validate_tau(tau, logits)
    mask = _validate_mask(mask, logits)
    dim = dim % logits.dim()
    last = logits.dim() - 1
    tau = _align_tau(tau, logits, dim)
    if dim != last:
        logits = logits.movedim(dim, -1)
        mask = mask.movedim(dim, -1) if mask is not None else None
    needs_grad = torch.is_grad_enabled() and (
        logits.requires_grad or (isinstance(tau, Tensor) and tau.requires_grad)
    )
    out = _GumbelSoftmaxFn.apply(
        logits, tau, mask, hard, estimator, gumbel_rao_samples, generator, needs_grad
    )
    return out.movedim(-1, dim) if dim != last else out


def one_hot_argmax(logits: Tensor, dim: int = -1, mask: Tensor | None = None) -> Tensor:
    """The deterministic mode: ``onehot(argmax(logits))`` over allowed categories.

    Same shape and dtype as ``logits``; no gradient. Compares in float32 so low-precision
    inputs pick the same index as their float32 values (ties go to the lowest index).
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor")
    mask = _validate_mask(mask, logits)
    with torch.no_grad():
        z = _masked(logits.to(_compute_dtype(logits.dtype)), mask)
        _check_rows(z.amax(dim, keepdim=True))
        index = z.argmax(dim, keepdim=True)
        return torch.zeros_like(logits).scatter_(dim, index, 1.0)


def _num_nodes(n_pairs: int) -> int:
    """``N`` with ``N(N-1)/2 == n_pairs``; a ValueError when ``n_pairs`` is not of that form."""
    n = (1 + math.isqrt(1 + 8 * n_pairs)) // 2
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"pair logits [B, P, C] need P = N(N-1)/2 for some N, got P = {n_pairs}")
    return n


def _upper_pairs(logits: Tensor, node_mask: Tensor | None) -> tuple[Tensor, Tensor | None, int]:
    """Logits of the pairs i < j, ``[B, N(N-1)/2, C]``, their mask, and ``N``.

    Dense ``[B, N, N, C]`` logits are symmetrised; pair logits pass as they are. Pairs touching
    an absent node may only be class 0 ("no edge").
    """
    if isinstance(logits, Tensor) and logits.dim() == 3:
        batch, _, classes = logits.shape
        n = _num_nodes(logits.shape[1])
        rows, cols = torch.triu_indices(n, n, offset=1, device=logits.device)
        pairs = logits
    elif isinstance(logits, Tensor) and logits.dim() == 4 and logits.shape[1] == logits.shape[2]:
        batch, n, _, classes = logits.shape
        rows, cols = torch.triu_indices(n, n, offset=1, device=logits.device)
        pairs = (logits[:, rows, cols] + logits[:, cols, rows]) / 2
    else:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must have shape [B, N(N-1)/2, C] or [B, N, N, C], got {shape}")
    if node_mask is None:
        return pairs, None, n
    if not isinstance(node_mask, Tensor) or node_mask.dtype != torch.bool:
        raise ValueError("node_mask must be a bool tensor [B, N] (True = node present)")
    if tuple(node_mask.shape) != (batch, n):
        raise ValueError(
            f"node_mask must have shape {(batch, n)} to match logits, got {tuple(node_mask.shape)}"
        )
    present = node_mask[:, rows] & node_mask[:, cols]
    no_edge = torch.arange(classes, device=logits.device) == 0
    return pairs, present.unsqueeze(-1) | no_edge, n


@functools.lru_cache(maxsize=64)
def _pair_index(n: int) -> Tensor:
    """``[N * N]``: the pair index of each entry (i, j) in ``triu_indices`` order; the diagonal
    points at an extra row ``N(N-1)/2``. Built once per ``N``."""
    n_pairs = n * (n - 1) // 2
    index = torch.full((n, n), n_pairs, dtype=torch.long)
    rows, cols = torch.triu_indices(n, n, offset=1)
    index[rows, cols] = index[cols, rows] = torch.arange(n_pairs)
    return index.flatten()


def _mirror_pairs(pairs: Tensor, n: int) -> Tensor:
    """Place ``[B, P, C]`` pair samples at (i, j) and (j, i), class 0 on the diagonal.

    One gather through an index map, so the backward sums the gradients of both entries.
    """
    batch, _, classes = pairs.shape
    diagonal = torch.zeros(batch, 1, classes, dtype=pairs.dtype, device=pairs.device)
    diagonal[..., 0] = 1
    table = torch.cat([pairs, diagonal], dim=1)
    return table[:, _pair_index(n).to(pairs.device)].view(batch, n, n, classes)


def symmetric_gumbel_softmax(
    logits: Tensor,
    tau: float | Tensor = 1.0,
    *,
    hard: bool = True,
    estimator: str = "st",
    generator: torch.Generator | None = None,
    node_mask: Tensor | None = None,
    gumbel_rao_samples: int = 8,
) -> Tensor:
    r"""Sample a symmetric edge tensor: each unordered pair :math:`\{i, j\}` once.

    Dense logits are symmetrised, :math:`L' = (L + L^\top)/2`, so gradients reach both
    :math:`L_{ij}` and :math:`L_{ji}`; pair logits are used as they are. The pairs
    :math:`i < j` are sampled with
    :func:`gumbel_softmax` and mirrored; the diagonal and every pair touching an absent node
    are class 0 ("no edge") exactly.

    Args:
        logits: edge logits of the pairs :math:`i < j`, ``[B, N(N-1)/2, C]`` in
            ``torch.triu_indices(N, N, 1)`` order, or dense ``[B, N, N, C]``; class 0 = no edge.
        tau, hard, estimator, generator, gumbel_rao_samples: as in :func:`gumbel_softmax`.
        node_mask: bool ``[B, N]``, True = node present.

    Returns:
        ``[B, N, N, C]`` of the dtype of ``logits``, exactly symmetric in (N, N).
    """
    pairs, pair_mask, n = _upper_pairs(logits, node_mask)
    if isinstance(tau, Tensor) and tau.dim() > 0:
        raise ValueError("symmetric_gumbel_softmax takes a scalar tau (number or 0-dim tensor)")
    sample = gumbel_softmax(
        pairs,
        tau,
        hard=hard,
        estimator=estimator,
        mask=pair_mask,
        generator=generator,
        gumbel_rao_samples=gumbel_rao_samples,
    )
    return _mirror_pairs(sample, n)


def symmetric_one_hot_argmax(logits: Tensor, node_mask: Tensor | None = None) -> Tensor:
    """The deterministic mode of :func:`symmetric_gumbel_softmax`: per-pair argmax of the
    symmetrised logits, mirrored, class 0 on the diagonal and for absent nodes."""
    pairs, pair_mask, n = _upper_pairs(logits, node_mask)
    return _mirror_pairs(one_hot_argmax(pairs, mask=pair_mask), n)


# ------------------------------------------------------------- budgeted (constrained) edges

#: Values of ``connect`` besides False; True means :data:`CONNECT_DEFAULT`.
CONNECT_STRATEGIES = ("earlier", "join")
#: The strategy ``connect=True`` selects: joining by the most probable allowed edge kept FCD
#: close to the unconstrained sampler's on a model not trained with either rule (issue 12).
CONNECT_DEFAULT = "join"


def _validate_max_cycle(max_cycle: int | None) -> int | None:
    if max_cycle is None:
        return None
    if isinstance(max_cycle, bool) or not isinstance(max_cycle, int) or max_cycle < 2:
        raise ValueError(f"max_cycle must be None or an int >= 2, got {max_cycle!r}")
    return max_cycle


def _validate_connect(connect: bool | str) -> str | None:
    if connect is False or connect is None:
        return None
    if connect is True:
        return CONNECT_DEFAULT
    if connect not in CONNECT_STRATEGIES:
        raise ValueError(
            f"connect must be False, True or one of {CONNECT_STRATEGIES}, got {connect!r}"
        )
    return connect


def _budget_arguments(
    logits: Tensor, budget: Tensor, cost: Tensor, node_mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Validated ``(pairs [B, P, C], remaining [B, N], cost [C], present [B, N])``.

    Dense logits are symmetrised as in :func:`symmetric_gumbel_softmax`; budgets and costs are
    kept in float64 (exact for integer valences and half-integer bond orders).
    """
    if not isinstance(budget, Tensor) or budget.dim() != 2:
        shape = tuple(budget.shape) if isinstance(budget, Tensor) else type(budget).__name__
        raise ValueError(f"budget must be a tensor of shape [B, N], got {shape}")
    batch, n = budget.shape
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor")
    if logits.dim() == 4:
        if tuple(logits.shape[:3]) != (batch, n, n):
            raise ValueError(
                f"dense logits must have shape [B, N, N, C] = [{batch}, {n}, {n}, C] to match "
                f"budget [B, N], got {tuple(logits.shape)}"
            )
        pairs, _, _ = _upper_pairs(logits, None)
    elif logits.dim() == 3:
        if tuple(logits.shape[:2]) != (batch, n * (n - 1) // 2):
            raise ValueError(
                f"pair logits must have shape [B, N(N-1)/2, C] = [{batch}, {n * (n - 1) // 2}, "
                f"C] to match budget [B, N] = [{batch}, {n}], got {tuple(logits.shape)}"
            )
        pairs = logits
    else:
        raise ValueError(
            f"logits must have shape [B, N(N-1)/2, C] or [B, N, N, C], got {tuple(logits.shape)}"
        )
    classes = pairs.shape[-1]
    if classes == 0:
        raise ValueError("logits have no edge classes (C = 0)")
    cost = torch.as_tensor(cost, dtype=torch.float64, device=pairs.device)
    if tuple(cost.shape) != (classes,):
        raise ValueError(f"cost must have shape [C] = [{classes}], got {tuple(cost.shape)}")
    if not bool(torch.isfinite(cost).all()) or bool((cost < 0).any()):
        raise ValueError(f"cost must be finite and >= 0, got {cost.tolist()}")
    if cost[0] != 0:
        raise ValueError(f"cost[0] (class 0, no edge) must be 0, got {cost[0].item()}")
    remaining = budget.to(device=pairs.device, dtype=torch.float64)
    if bool(torch.isnan(remaining).any()) or bool((remaining < 0).any()):
        raise ValueError("budget must be >= 0 everywhere (inf = unlimited)")
    if node_mask is None:
        present = torch.ones(batch, n, dtype=torch.bool, device=pairs.device)
    elif not isinstance(node_mask, Tensor) or node_mask.dtype != torch.bool:
        raise ValueError("node_mask must be a bool tensor [B, N] (True = node present)")
    elif tuple(node_mask.shape) != (batch, n):
        raise ValueError(f"node_mask must have shape {(batch, n)}, got {tuple(node_mask.shape)}")
    else:
        present = node_mask
    return pairs, remaining, cost, present


@functools.lru_cache(maxsize=64)
def _round_robin_schedule(n: int) -> Tensor:
    """The pairs ``i < j`` of ``n`` nodes in rounds of disjoint pairs, ``[rounds, n // 2]``.

    Each entry is a pair's index in ``torch.triu_indices(n, n, 1)`` order. With
    :math:`m = n` for odd ``n`` (one node rests each round) and :math:`m = n - 1` for even
    ``n``, round :math:`r` holds the pairs :math:`i + j \\equiv r \\pmod m` and, for even
    ``n``, node ``n - 1`` with the node :math:`k` with :math:`2k \\equiv r`: ``n`` rounds of
    ``(n - 1) / 2`` pairs (odd) or ``n - 1`` rounds of ``n / 2`` (even), each pair once.
    """
    m = n if n % 2 else n - 1
    index = _pair_index(n).view(n, n)
    rounds = []
    for r in range(m):
        pairs = [index[i, (r - i) % m] for i in range(m) if i < (r - i) % m]
        if n % 2 == 0:
            pairs.append(index[r * (m + 1) // 2 % m, n - 1])
        rounds.append(torch.stack(pairs) if pairs else torch.zeros(0, dtype=torch.long))
    return torch.stack(rounds) if rounds else torch.zeros(0, 0, dtype=torch.long)


def _round_robin_pairs(n: int, device=None) -> Tensor:
    """:func:`_round_robin_schedule` (built once per ``n``) on ``device``."""
    return _round_robin_schedule(n).to(device)


def _one_step(edge: Tensor, n: int) -> Tensor:
    """``[B, N, N]`` 0/1: :math:`I + A` of the ``[B, P]`` bool edges of the pairs."""
    rows, cols = torch.triu_indices(n, n, offset=1, device=edge.device)
    step = torch.eye(n, device=edge.device).repeat(edge.shape[0], 1, 1)
    step[:, rows, cols] = step[:, cols, rows] = edge.to(step.dtype)
    return step


def _cycle_allowed(step: Tensor, max_cycle: int) -> Tensor:
    r"""``[B, N, N]`` bool: the pairs a round may join without closing a cycle longer than
    ``max_cycle``: ends at most ``max_cycle - 1`` edges apart (:math:`(I + A)^{max\_cycle - 1}
    > 0`, by binary powers), or one end still without an edge. Such an end gets one edge of
    the round at most, so it closes no cycle; two edges of one round between the same two
    pieces of several nodes would close one that no distance before the round bounds.
    ``step``: ``[B, N, N]``, :math:`I + A` of the graph drawn so far."""
    lone = step.sum(-1) == 1  # [B, N]: no edge yet
    near, hops = None, max_cycle - 1
    while True:
        if hops & 1:
            near = step if near is None else (near @ step).clamp_(max=1.0)
        hops >>= 1
        if not hops:
            break
        step = (step @ step).clamp_(max=1.0)
    return (near > 0) | lone.unsqueeze(2) | lone.unsqueeze(1)


def _connected_labels(edge: Tensor, n: int) -> Tensor:
    """Component label of each node (its smallest reachable index), ``[B, N]``, from the
    ``[B, P]`` bool edges of the pairs; reachability by repeated squaring, log2(N) products."""
    reach = _one_step(edge, n)
    for _ in range(max(n - 1, 1).bit_length()):
        reach = (reach @ reach).clamp_(max=1.0)
    return reach.argmax(-1)  # the first maximum: the smallest index reachable


def _join_fragments(
    pairs: Tensor, classes: Tensor, remaining: Tensor, cost: Tensor, present: Tensor, n: int
) -> Tensor:
    """Join the fragments of the sampled graph, one edge per step and graph: the highest-logit
    non-zero class, among pairs of present nodes in different fragments, whose cost fits both
    ends' remaining budget; until one fragment is left or no edge fits.

    ``classes [B, P]`` (the sampled class of each pair) and ``remaining [B, N]`` are updated in
    place; returns the ``[B, P]`` bool mask of the pairs that were joined.
    """
    batch, n_pairs, n_classes = pairs.shape
    rows, cols = torch.triu_indices(n, n, offset=1, device=pairs.device)
    label = _connected_labels(classes != 0, n)
    joined = torch.zeros(batch, n_pairs, dtype=torch.bool, device=pairs.device)
    pair_present = present[:, rows] & present[:, cols]
    scores = pairs.detach()
    graphs = torch.arange(batch, device=pairs.device)
    for _ in range(n - 1):
        apart = pair_present & (label[:, rows] != label[:, cols])  # [B, P]
        fits = cost <= torch.minimum(remaining[:, rows], remaining[:, cols]).unsqueeze(-1)
        allowed = fits & apart.unsqueeze(-1)  # [B, P, C]
        allowed[..., 0] = False
        best, flat = scores.masked_fill(~allowed, -math.inf).flatten(1).max(-1)  # [B]
        todo = best > -math.inf
        if not bool(todo.any()):
            break
        graphs_todo, flat = graphs[todo], flat[todo]
        pair, cls = flat // n_classes, flat % n_classes
        classes[graphs_todo, pair] = cls
        joined[graphs_todo, pair] = True
        remaining[graphs_todo, rows[pair]] -= cost[cls]
        remaining[graphs_todo, cols[pair]] -= cost[cls]
        # Merge the fragment of the second end into the first end's.
        old = label[graphs_todo, cols[pair]].unsqueeze(-1)
        new = label[graphs_todo, rows[pair]].unsqueeze(-1)
        label[graphs_todo] = torch.where(label[graphs_todo] == old, new, label[graphs_todo])
    return joined


@functools.lru_cache(maxsize=64)
def _pairs_by_column(n: int) -> Tensor:
    """Indices, in ``torch.triu_indices(n, n, 1)`` order, of the pairs ``(j, i)``, ``j < i``,
    listed by ``i`` then ``j``: ``[N(N-1)/2]``; the pairs of node ``i`` and its earlier nodes
    are entries ``i(i-1)/2`` to ``i(i+1)/2 - 1``."""
    index = _pair_index(n).view(n, n)
    return torch.cat([index[:i, i] for i in range(1, n)]) if n > 1 else torch.zeros(0).long()


def _finite_budget(budget: Tensor, cost: Tensor, n: int) -> Tensor:
    r"""``budget`` capped at what a node can spend, :math:`(N - 1) \max_c \mathrm{cost}_c`."""
    return budget.clamp(max=(n - 1) * cost.max().item())


def _tree_gains(budget: Tensor, cost: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
    r"""``(gain [B, N], e)``: with :math:`e = \min_{c \ge 1} \mathrm{cost}_c`, attaching
    present node :math:`k` by the cheapest edge changes the room of a tree by
    :math:`b_k - 2e`; absent nodes change nothing."""
    cheapest = cost[1:].min() if cost.numel() > 1 else cost.new_tensor(0.0)
    gain = torch.where(present, _finite_budget(budget, cost, budget.shape[1]) - 2 * cheapest, 0.0)
    return gain, cheapest


def _tree_room_needed(remaining: Tensor, cost: Tensor, present: Tensor) -> Tensor:
    r"""``[B, N]``: the budget the nodes :math:`\le i` must keep, in all, after node
    :math:`i`'s tree edge, so that every later present node can still get one.

    With :math:`e = \min_{c \ge 1} \mathrm{cost}_c`, attaching node :math:`k` by the cheapest
    edge changes the room of the tree by :math:`g_k = b_k - 2e`; before each later present
    node :math:`k` the room must be at least :math:`e`, so node :math:`i` must leave
    :math:`\max_{k > i,\ k \text{ present}} (e - \sum_{i < m < k} g_m)`, or 0.
    """
    gain, cheapest = _tree_gains(remaining, cost, present)
    before = gain.cumsum(1) - gain  # [B, N]: sum of the gains of the nodes < k
    threshold = torch.where(present, cheapest - before, -math.inf)  # [B, N]
    # later[:, i] = max over k > i of threshold[:, k]
    later = threshold.flip(1).cummax(1).values.flip(1).roll(-1, 1)
    later[:, -1] = -math.inf
    return (later + before + gain).clamp(min=0.0)


def tree_attachable(budget: Tensor, cost: Tensor, node_mask: Tensor | None = None) -> Tensor:
    r"""The present nodes that a tree built in node order can attach, ``[B, N]`` bool.

    With :math:`e = \min_{c \ge 1} \mathrm{cost}_c` (the cheapest edge), the first present
    node starts the tree with room :math:`b_{i_0}`; each later present node :math:`i` can
    attach if the room is at least :math:`e`, and then changes it by :math:`b_i - 2e`. Once a
    node cannot attach, the room never grows again, so no later node can either. Sampling the
    node types in order, with every type but "absent" masked at the nodes that cannot attach,
    is sampling them freely and then marking those nodes absent: this function gives the mask
    for the latter, so that ``connect="earlier"`` in :func:`budgeted_symmetric_gumbel_softmax`
    always finds its tree (the generator's atoms in ``generator.connect: earlier``).

    Args:
        budget: ``[B, N]``, each node's budget (:math:`\ge 0`; ``inf`` allowed).
        cost: ``[C]``, the cost of each edge class, ``cost[0] == 0`` (class 0, no edge).
        node_mask: bool ``[B, N]``, True = node present (default: all present).
    """
    cost = torch.as_tensor(cost, dtype=torch.float64, device=budget.device)
    present = torch.ones_like(budget, dtype=torch.bool) if node_mask is None else node_mask
    gain, cheapest = _tree_gains(budget.double(), cost, present)
    # room after node i: its budget and the earlier present nodes', less two ends per edge
    room = gain.cumsum(1) + 2 * cheapest  # [B, N]
    closes = (present & (room < cheapest)).long()  # no room for a later node after node i
    return present & (closes.cumsum(1) - closes == 0)


def _earlier_edges(
    pairs: Tensor, remaining: Tensor, cost: Tensor, present: Tensor, draw
) -> tuple[Tensor, Tensor]:
    r"""The spanning tree of ``connect="earlier"``, drawn before any other pair.

    Node by node, :math:`i = 1, \dots, N - 1`, one edge :math:`(j, c)` to an earlier node is
    drawn with probability :math:`\propto \exp(\ell_{jic})` over the present :math:`j < i`
    and classes :math:`c \ge 1` that fit both ends' remaining budget (one ``draw`` over the
    flattened :math:`(j, c)`); a node with no such :math:`(j, c)`, or absent, gets none.
    ``remaining`` is spent in place. Returns the tree's pair entries ``[B, P, C]`` (class 0 =
    the weight the draw put on the node's other earlier pairs, so a relaxed row sums to 1 and
    a hard one is one-hot) and the ``[B, P]`` bool mask of the pairs in the tree.
    """
    batch, n_pairs, n_classes = pairs.shape
    n = remaining.shape[1]
    column = _pairs_by_column(n).to(pairs.device)
    edge_costs = cost[1:].view(1, 1, -1)
    need = _tree_room_needed(remaining, cost, present)  # [B, N]
    entries, chosen = [], []
    for i in range(1, n):
        ids = column[i * (i - 1) // 2 : i * (i + 1) // 2]  # pairs (j, i), j < i
        room = torch.minimum(remaining[:, :i], remaining[:, i : i + 1])  # [B, i]
        both = present[:, :i] & present[:, i : i + 1]  # [B, i]
        fits = (edge_costs <= room.unsqueeze(-1)) & both.unsqueeze(-1)  # [B, i, C-1]
        # Room the earlier nodes keep after the edge: enough for the later nodes' tree edges.
        kept = _finite_budget(remaining[:, :i], cost, n).mul(present[:, :i]).sum(1)  # [B]
        kept = kept.unsqueeze(-1) + _finite_budget(remaining[:, i : i + 1], cost, n) - 2 * cost[1:]
        leaves_room = (kept >= need[:, i : i + 1]).unsqueeze(1)  # [B, 1, C-1]
        # Best effort where no edge leaves room for the rest of the tree.
        keeps = fits & leaves_room
        fits = torch.where(keeps.flatten(1).any(1).view(-1, 1, 1), keeps, fits).flatten(1)
        # An extra option, allowed only where nothing fits, keeps every row drawable.
        allowed = torch.cat([fits, ~fits.any(1, keepdim=True)], 1).unsqueeze(1)  # [B, 1, K+1]
        theta = torch.cat([pairs[:, ids, 1:].flatten(1), pairs.new_zeros(batch, 1)], 1)
        drawn = draw(theta.unsqueeze(1), allowed)[:, 0]  # [B, K+1]
        pick = drawn.detach().argmax(-1)  # [B]
        attached = pick < fits.shape[1]
        j, c = pick // (n_classes - 1), pick % (n_classes - 1) + 1
        spend = torch.where(attached, cost[c], 0.0)
        remaining[:, i] -= spend
        remaining[torch.arange(batch, device=pairs.device), j.clamp(max=i - 1)] -= spend
        edge = drawn[:, :-1].view(batch, i, n_classes - 1)  # [B, i, C-1]
        entries.append(torch.cat([1 - edge.sum(-1, keepdim=True), edge], -1))
        chosen.append(attached.unsqueeze(-1) & (torch.arange(i, device=pairs.device) == j[:, None]))
    if not entries:
        return pairs.new_zeros(batch, 0, n_classes), remaining.new_zeros(batch, 0).bool()
    inverse = torch.empty_like(column)
    inverse[column] = torch.arange(n_pairs, device=pairs.device)
    return torch.cat(entries, 1)[:, inverse], torch.cat(chosen, 1)[:, inverse]


def _budgeted_pairs(
    pairs: Tensor,
    remaining: Tensor,
    cost: Tensor,
    present: Tensor,
    connect: str | None,
    draw,
    max_cycle: int | None = None,
) -> Tensor:
    """The budgeted sampling loop shared by the sampler and its deterministic mode.

    ``draw(logits [B, R, K], allowed [B, R, K]) -> [B, R, K]`` samples ``R`` independent rows
    (a round of disjoint pairs, or one node's tree edge); the budgets are spent by the argmax
    of each draw. Returns ``[B, P, C]``.
    """
    batch, n_pairs, n_classes = pairs.shape
    n = remaining.shape[1]
    device = pairs.device
    rows, cols = torch.triu_indices(n, n, offset=1, device=device)
    schedule = _round_robin_pairs(n, device)  # [rounds, R]
    pair_present = present[:, rows] & present[:, cols]  # [B, P]
    in_tree = None
    if connect == "earlier" and n_classes > 1:
        tree, in_tree = _earlier_edges(pairs, remaining, cost, present, draw)
    # The tree closes no cycle (each node's edge goes to an earlier one, before any other
    # edge); after it, each edge needs ends at most max_cycle - 1 edges apart or a lone end.
    step = cycle_ok = None
    if max_cycle is not None and max_cycle < n:  # a longer cycle needs more than n nodes
        edges = torch.zeros(batch, n_pairs, dtype=torch.bool, device=device)
        step = _one_step(edges if in_tree is None else in_tree, n)  # [B, N, N]: I + A
        cycle_ok = _cycle_allowed(step, max_cycle)  # [B, N, N]
    ordered = pairs[:, schedule.flatten()].view(batch, *schedule.shape, n_classes)
    draws = []
    for r, ids in enumerate(schedule):
        left, right = rows[ids], cols[ids]  # left < right; no node twice in a round
        room = torch.minimum(remaining[:, left], remaining[:, right])  # [B, R]
        allowed = (cost <= room.unsqueeze(-1)) & pair_present[:, ids].unsqueeze(-1)
        if in_tree is not None:  # the tree's pairs are drawn already: no edge here
            allowed &= ~in_tree[:, ids].unsqueeze(-1)
        if cycle_ok is not None:  # elsewhere an edge would close a cycle over max_cycle
            allowed &= cycle_ok[:, left, right].unsqueeze(-1)
        allowed[..., 0] = True
        drawn = draw(ordered[:, r], allowed)  # [B, R, C]
        cls = drawn.detach().argmax(-1)
        remaining[:, left] -= cost[cls]
        remaining[:, right] -= cost[cls]
        draws.append(drawn)
        if cycle_ok is not None:
            new = (cls > 0).to(step.dtype)  # [B, R]
            step[:, left, right] = step[:, right, left] = step[:, left, right] + new
            cycle_ok = _cycle_allowed(step, max_cycle)
    inverse = torch.empty_like(schedule.flatten())
    inverse[schedule.flatten()] = torch.arange(n_pairs, device=device)
    sample = torch.cat(draws, 1)[:, inverse] if draws else pairs.new_zeros(batch, 0, n_classes)
    if in_tree is not None:
        sample = torch.where(in_tree.unsqueeze(-1), tree, sample)
    if connect == "join" and n_classes > 1 and n > 1:
        classes = sample.detach().argmax(-1)
        joined = _join_fragments(pairs, classes, remaining, cost, present, n)
        # The joining edge replaces the drawn value; its gradient stays the drawn entry's
        # straight-through (or chosen estimator's) gradient.
        one_hot = torch.nn.functional.one_hot(classes, n_classes).to(sample.dtype)
        sample = sample + torch.where(joined.unsqueeze(-1), one_hot - sample.detach(), 0.0)
    return sample


def budgeted_symmetric_gumbel_softmax(
    logits: Tensor,
    budget: Tensor,
    cost: Tensor,
    tau: float | Tensor = 1.0,
    *,
    hard: bool = True,
    estimator: str = "st",
    generator: torch.Generator | None = None,
    node_mask: Tensor | None = None,
    connect: bool | str = False,
    gumbel_rao_samples: int = 8,
    max_cycle: int | None = None,
) -> Tensor:
    r"""Sample a symmetric edge tensor in which no node spends more than its budget.

    Each unordered pair :math:`\{i, j\}` is sampled once, with class :math:`c` allowed only if
    its cost fits both ends' remaining budget,

    .. math::
        \mathrm{cost}_c \le \min(b_i, b_j), \qquad
        b_i \leftarrow b_i - \mathrm{cost}_{c_{ij}} \text{ after each draw,}

    so :math:`\sum_j \mathrm{cost}_{c_{ij}} \le \mathrm{budget}_i` always (e.g. valences and bond
    orders). Disallowed classes are masked as by ``mask`` in :func:`gumbel_softmax`: probability
    exactly 0, zero gradient. The pairs are drawn in rounds of pairs that share no node (a
    round-robin schedule of the complete graph, :math:`N` rounds for odd :math:`N`,
    :math:`N - 1` for even), each round one :func:`gumbel_softmax` call over the batch, and the
    budgets are spent after each round; with ample budgets the distribution is that of
    :func:`symmetric_gumbel_softmax`. Where budgets bind, pairs in early rounds constrain the
    later ones: round :math:`r` holds the pairs with :math:`i + j \equiv r \pmod m`
    (:math:`m = N` odd, :math:`N - 1` even; for even :math:`N` node :math:`N - 1` meets the
    node :math:`k` with :math:`2k \equiv r`), so pairs of low-index nodes come first.

    ``connect`` makes the graph of present nodes connected (both rules are part of the sample,
    the same in training and sampling):

    - ``"earlier"``: a spanning tree first, then the other pairs. Node by node,
      :math:`i = 1, \dots, N - 1`, one edge :math:`(j, c)` to an earlier present node is
      drawn with probability :math:`\propto \exp(\ell_{jic})` over the :math:`j < i`
      and classes :math:`c \ge 1` that fit both ends' remaining budget; then the pairs
      outside the tree are drawn in rounds, as without the rule, within the budget left. A
      tree edge is drawn only among those that leave the earlier nodes room for every later
      present node's tree edge (by the cheapest class; best effort where none does), so every
      present node bonds an earlier present node, and the graph is connected, whenever the
      budgets admit such a tree in node order at all (before each present node the earlier
      ones, each attached by the cheapest edge, have room for one more). In SMILES atom order
      every molecule has this form, so the rule excludes no molecule written in that order.
    - ``"join"``: after sampling, while the graph has two fragments joined by an allowed edge
      (a pair of present nodes in different fragments whose non-zero class fits both ends'
      remaining budget), the highest-logit such (pair, class) is set, one per step. The result
      is connected unless no remaining edge fits between two fragments. The joined entry
      carries the gradient of its drawn entry (straight-through).
    - ``True``: :data:`CONNECT_DEFAULT` (``"join"``); ``False``: no rule.

    ``max_cycle`` closes no cycle longer than that (e.g. no ring of 8 or more atoms): a pair
    outside the tree gets a non-zero class only if its ends are joined by a path of at most
    ``max_cycle - 1`` edges in the graph drawn before its round, or are in different
    components one of which is a lone node (masked as the budgets mask). With a spanning tree
    (``"earlier"``) every pair is in one component; otherwise two fragments of several nodes
    are never bonded in the rounds (``"join"`` may join them after).
    Paths only shorten as edges are added, so each edge closes cycles of at most
    ``max_cycle`` edges and the graph's cycle space has a basis of such cycles; every cycle of
    a minimum cycle basis (a smallest set of smallest rings) is then at most that long too.
    The tree and ``"join"``'s edges close no cycle. ``max_cycle=2`` allows none: a forest.

    Args:
        logits: edge-class logits of the pairs :math:`i < j`, ``[B, N(N-1)/2, C]`` in
            ``torch.triu_indices(N, N, 1)`` order, or dense ``[B, N, N, C]`` (symmetrised as
            :math:`(L + L^\top)/2`); class 0 = no edge.
        budget: ``[B, N]``, what each node may still spend, :math:`\ge 0` (``inf``: no limit).
        cost: ``[C]``, what an edge of each class spends at both ends, :math:`\ge 0`, with
            ``cost[0] == 0``.
        tau, hard, estimator, gumbel_rao_samples: as in :func:`gumbel_softmax` (``tau`` a
            number or 0-dim tensor). With ``hard=False`` the budgets are spent by the argmax
            of each relaxed sample (the hard sample of the same noise).
        generator: source of randomness: each round draws from a generator seeded from it,
            so with the same state every estimator, with or without grad, gives the same
            sample.
        node_mask: bool ``[B, N]``, True = node present; pairs touching absent nodes are
            class 0.
        connect: ``False``, ``True``, ``"earlier"`` or ``"join"`` (see above).
        max_cycle: ``None`` (no limit) or the longest cycle an edge may close, ``>= 2``.

    Returns:
        ``[B, N, N, C]`` of the dtype of ``logits``, exactly symmetric, class 0 on the
        diagonal.

    Raises:
        ValueError: for shapes that do not match ``budget [B, N]``, a negative or NaN budget,
            negative or non-finite costs, ``cost[0] != 0``, an unknown ``connect``, a
            ``max_cycle`` below 2, and everything :func:`gumbel_softmax` rejects.
    """
    pairs, remaining, cost, present = _budget_arguments(logits, budget, cost, node_mask)
    connect = _validate_connect(connect)
    max_cycle = _validate_max_cycle(max_cycle)
    if isinstance(tau, Tensor) and tau.dim() > 0:
        raise ValueError("budgeted_symmetric_gumbel_softmax takes a scalar tau")
    _validate_tau(tau, pairs)

    # One generator per round, seeded from `generator`: Gumbel-Rao's extra draws (skipped
    # under no_grad) then cannot shift the next round's noise, so the sample is the same with
    # or without grad and for every estimator.
    n = remaining.shape[1]
    draws = max(n, 1) + (n - 1 if connect == "earlier" else 0)  # rounds (+ tree edges)
    seeds = torch.randint(2**62, (draws,), generator=generator, device=pairs.device).tolist()
    round_generators = (torch.Generator(pairs.device).manual_seed(seed) for seed in seeds)

    def draw(round_logits: Tensor, allowed: Tensor) -> Tensor:
        return gumbel_softmax(
            round_logits,
            tau,
            hard=hard,
            estimator=estimator,
            mask=allowed,
            generator=next(round_generators),
            gumbel_rao_samples=gumbel_rao_samples,
        )

    sample = _budgeted_pairs(pairs, remaining, cost, present, connect, draw, max_cycle)
    return _mirror_pairs(sample, remaining.shape[1])


def budgeted_symmetric_one_hot_argmax(
    logits: Tensor,
    budget: Tensor,
    cost: Tensor,
    *,
    node_mask: Tensor | None = None,
    connect: bool | str = False,
    max_cycle: int | None = None,
) -> Tensor:
    """The deterministic mode of :func:`budgeted_symmetric_gumbel_softmax`: the same rounds,
    budget masks, ``connect`` rule and ``max_cycle``, with each pair's argmax in place of a
    sample (no gradient)."""
    pairs, remaining, cost, present = _budget_arguments(logits, budget, cost, node_mask)
    connect = _validate_connect(connect)
    max_cycle = _validate_max_cycle(max_cycle)
    with torch.no_grad():
        sample = _budgeted_pairs(
            pairs,
            remaining,
            cost,
            present,
            connect,
            lambda x, allowed: one_hot_argmax(x, mask=allowed),
            max_cycle,
        )
        return _mirror_pairs(sample, remaining.shape[1])
