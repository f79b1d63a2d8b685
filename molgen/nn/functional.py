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

from molgen.choices import ESTIMATORS

__all__ = [
    "ESTIMATORS",
    "gumbel_softmax",
    "one_hot_argmax",
    "symmetric_gumbel_softmax",
    "symmetric_one_hot_argmax",
]


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
