"""Module wrappers of :mod:`molgen.nn.functional`'s Gumbel-Softmax samplers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from molgen.choices import ESTIMATORS, EVAL_MODES
from molgen.nn import constrained
from molgen.nn import functional as F
from molgen.nn.constrained.loop import _connect_rule

__all__ = [
    "BudgetedSymmetricGumbelSoftmax",
    "GumbelSoftmax",
    "SiteGumbelSoftmax",
    "SymmetricGumbelSoftmax",
]


class _GumbelBase(nn.Module):
    """Validated sampler settings shared by the modules (no parameters)."""

    def __init__(
        self,
        hard: bool = True,
        estimator: str = "st",
        gumbel_rao_samples: int = 8,
        eval_mode: str = "sample",
    ) -> None:
        super().__init__()
        if not isinstance(hard, bool):
            raise ValueError(f"hard must be a bool, got {hard!r}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if not hard and estimator != "st":
            raise ValueError(f"estimator={estimator!r} needs hard=True")
        if (
            isinstance(gumbel_rao_samples, bool)
            or not isinstance(gumbel_rao_samples, int)
            or gumbel_rao_samples < 1
        ):
            raise ValueError(f"gumbel_rao_samples must be an int >= 1, got {gumbel_rao_samples!r}")
        if eval_mode not in EVAL_MODES:
            raise ValueError(f"eval_mode must be one of {EVAL_MODES}, got {eval_mode!r}")
        self.hard = hard
        self.estimator = estimator
        self.gumbel_rao_samples = gumbel_rao_samples
        self.eval_mode = eval_mode

    def reset_parameters(self) -> None:
        """No parameters: the temperature is passed to ``forward``."""

    def _sampler_kwargs(self) -> dict:
        return {
            "hard": self.hard,
            "estimator": self.estimator,
            "gumbel_rao_samples": self.gumbel_rao_samples,
        }

    @property
    def _deterministic(self) -> bool:
        return not self.training and self.eval_mode == "argmax"

    def extra_repr(self) -> str:
        text = f"hard={self.hard}, estimator={self.estimator!r}"
        if self.estimator == "gumbel_rao":
            text += f", gumbel_rao_samples={self.gumbel_rao_samples}"
        return text + f", eval_mode={self.eval_mode!r}"


class GumbelSoftmax(_GumbelBase):
    r"""One-hot (or relaxed) categorical samples with gradients, see
    :func:`molgen.nn.functional.gumbel_softmax`.

    .. math::
        D = \mathrm{onehot}\big(\arg\max_i\, \theta_i + g_i\big), \quad
        \nabla \text{ from } \mathrm{softmax}\big((\theta + g)/\tau\big)
        \text{ (or the chosen estimator)}

    Args:
        hard: one-hot samples (True) or relaxed Concrete samples (False).
        estimator: ``"st"``, ``"gumbel_rao"`` or ``"reinmax"`` (``hard=True`` only).
        gumbel_rao_samples: conditional draws :math:`K` for ``"gumbel_rao"``.
        dim: the category dimension.
        eval_mode: behaviour in ``eval()`` mode: ``"sample"`` keeps sampling (the model is a
            distribution); ``"argmax"`` returns the deterministic one-hot mode
            ``onehot(argmax(logits))`` (for ``hard=False`` too), without noise or gradient.
            In ``train()`` mode the module always samples.

    Shapes:
        - **logits** :math:`(*, C, *)` with :math:`C` at ``dim``; **tau** a number or a tensor
          broadcastable to logits with size 1 at ``dim``; **mask** bool, broadcastable.
        - **output** same shape and dtype as logits.
    """

    def __init__(
        self,
        hard: bool = True,
        estimator: str = "st",
        gumbel_rao_samples: int = 8,
        dim: int = -1,
        eval_mode: str = "sample",
    ) -> None:
        super().__init__(hard, estimator, gumbel_rao_samples, eval_mode)
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError(f"dim must be an int, got {dim!r}")
        self.dim = dim

    def forward(
        self,
        logits: Tensor,
        tau: float | Tensor = 1.0,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if self._deterministic:
            return F.one_hot_argmax(logits, dim=self.dim, mask=mask)
        return F.gumbel_softmax(
            logits, tau, dim=self.dim, mask=mask, generator=generator, **self._sampler_kwargs()
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", dim={self.dim}" if self.dim != -1 else "")


class SymmetricGumbelSoftmax(_GumbelBase):
    r"""Symmetric one-hot edge samples for pair or dense logits, see
    :func:`molgen.nn.functional.symmetric_gumbel_softmax`.

    Each unordered pair is sampled once from :math:`(L + L^\top)/2` and mirrored; the diagonal
    and pairs touching absent nodes (``node_mask`` False) are class 0, "no edge".

    Args:
        hard, estimator, gumbel_rao_samples, eval_mode: as in :class:`GumbelSoftmax`
            (``eval_mode="argmax"`` gives the symmetric per-pair mode).

    Shapes:
        - **logits** :math:`(B, N(N-1)/2, C)` (pairs in ``torch.triu_indices(N, N, 1)``
          order) or :math:`(B, N, N, C)`; **node_mask** bool :math:`(B, N)`.
        - **output** :math:`(B, N, N, C)`, exactly symmetric in the two node dimensions.
    """

    def forward(
        self,
        logits: Tensor,
        tau: float | Tensor = 1.0,
        node_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if self._deterministic:
            return F.symmetric_one_hot_argmax(logits, node_mask=node_mask)
        return F.symmetric_gumbel_softmax(
            logits, tau, node_mask=node_mask, generator=generator, **self._sampler_kwargs()
        )


class BudgetedSymmetricGumbelSoftmax(_GumbelBase):
    r"""Symmetric one-hot edge samples in which no node spends more than its budget, see
    :func:`molgen.nn.constrained.budgeted_symmetric_gumbel_softmax`: the rules
    :class:`~molgen.nn.constrained.Budget` and, with ``max_cycle``,
    :class:`~molgen.nn.constrained.MaxCycle`.

    Each unordered pair is sampled once, in rounds of pairs that share no node; an edge class
    is allowed only if its cost fits the remaining budget of both ends:

    .. math::
        \mathrm{cost}_c \le \min(b_i, b_j), \qquad \sum_j \mathrm{cost}_{c_{ij}} \le
        \mathrm{budget}_i

    Args:
        hard, estimator, gumbel_rao_samples: as in :class:`GumbelSoftmax`.
        eval_mode: ``"sample"`` keeps sampling in ``eval()`` mode; ``"argmax"`` takes each
            pair's argmax under the same rules and ``connect``
            (:func:`~molgen.nn.constrained.budgeted_symmetric_one_hot_argmax`).
        connect: ``None`` (or ``False``); ``"tree"`` (a spanning tree first: every node a tree
            in node order can attach gets an edge to an earlier present node, the others none;
            then the other pairs; ``"earlier"`` is an older name); ``"join"`` (fragments are
            joined by their highest-logit allowed edge; ``True`` is the same).
        max_cycle: ``None``, or the longest cycle an edge may close (``>= 2``; e.g. 7: no
            ring of 8 or more atoms).
        aromatic: ``None``, or the aromatic edge class, drawn only in whole aromatic rings
            (:class:`~molgen.nn.constrained.AromaticRings`, with ``connect="tree"``; the
            ring sizes are those of 5 and 6 that ``max_cycle`` allows); ``forward`` then takes
            each node's ``roles``.

        crossing_rivals: ``rivals`` of the :class:`~molgen.nn.constrained.NonCrossing` rule
            that ``forward``'s ``positions`` add (``None``: the rounds' order).

    ``forward``'s ``positions`` (``[B, N, 2]``) add the rule
    :class:`~molgen.nn.constrained.NonCrossing`: an edge is drawn only where its segment meets
    no edge drawn before it, so every sample is planar.

    Shapes:
        - **logits** :math:`(B, N(N-1)/2, C)` (pairs in ``torch.triu_indices(N, N, 1)`` order)
          or :math:`(B, N, N, C)`; **budget** :math:`(B, N)`; **cost** :math:`(C)` with
          ``cost[0] == 0``; **node_mask** bool :math:`(B, N)`; **roles** long :math:`(B, N)`;
          **positions** :math:`(B, N, 2)`.
        - **output** :math:`(B, N, N, C)`, exactly symmetric, class 0 on the diagonal.
    """

    def __init__(
        self,
        hard: bool = True,
        estimator: str = "st",
        gumbel_rao_samples: int = 8,
        eval_mode: str = "sample",
        connect: bool | str | None = None,
        max_cycle: int | None = None,
        aromatic: int | None = None,
        crossing_rivals: int | None = None,
    ) -> None:
        super().__init__(hard, estimator, gumbel_rao_samples, eval_mode)
        self.connect = _connect_rule(connect, legacy=True)
        self.crossing_rivals = crossing_rivals
        self.max_cycle = None if max_cycle is None else constrained.MaxCycle(max_cycle).length
        self.aromatic = aromatic
        self.aromatic_sizes = tuple(s for s in (5, 6) if max_cycle is None or s <= max_cycle)
        if aromatic is not None and (self.connect != "tree" or not self.aromatic_sizes):
            raise ValueError(
                "aromatic rings are drawn along the spanning tree: they need connect='tree' "
                f"and max_cycle None or >= 5, got connect={connect!r}, max_cycle={max_cycle}"
            )

    def forward(
        self,
        logits: Tensor,
        budget: Tensor,
        cost: Tensor,
        tau: float | Tensor = 1.0,
        node_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
        roles: Tensor | None = None,
        positions: Tensor | None = None,
    ) -> Tensor:
        rules = constrained.budget_rules(budget, cost, self.max_cycle)
        if self.aromatic is not None:
            if roles is None:
                raise ValueError("an aromatic sampler needs each node's roles [B, N]")
            ring = constrained.AromaticRings(rules[0], roles, self.aromatic, self.aromatic_sizes)
            rules = (*rules, ring)
        if positions is not None:
            rules = (*rules, constrained.NonCrossing(positions, self.crossing_rivals))
        if self._deterministic:
            return constrained.constrained_symmetric_one_hot_argmax(
                logits, rules=rules, connect=self.connect, node_mask=node_mask
            )
        return constrained.constrained_symmetric_gumbel_softmax(
            logits,
            tau,
            rules=rules,
            connect=self.connect,
            node_mask=node_mask,
            generator=generator,
            **self._sampler_kwargs(),
        )

    def extra_repr(self) -> str:
        aromatic = "" if self.aromatic is None else f", aromatic={self.aromatic}"
        return (
            super().extra_repr()
            + f", connect={self.connect!r}, max_cycle={self.max_cycle}"
            + aromatic
            + ("" if self.crossing_rivals is None else f", crossing_rivals={self.crossing_rivals}")
        )


class SiteGumbelSoftmax(_GumbelBase):
    r"""A fragment graph's edges and the attachment site at each end of each edge, see
    :func:`molgen.nn.constrained.site_gumbel_softmax`: the rules
    :class:`~molgen.nn.constrained.SiteBudget` and, with ``forest``,
    :class:`~molgen.nn.constrained.MaxCycle` ``(2)``.

    An edge class is allowed only if both ends have a site with its cost left; the site at
    each end is then a masked Gumbel-Softmax draw over that end's site logits among the sites
    with enough left, so no site ever spends more than its budget:

    .. math::
        \sum_j \mathrm{cost}_{c_{ij}} [s_{ij} = s] \le b_{is}

    Args:
        hard, estimator, gumbel_rao_samples: as in :class:`GumbelSoftmax`, for the edge and
            the site draws.
        eval_mode: ``"sample"`` keeps sampling in ``eval()`` mode; ``"argmax"`` takes each
            edge draw's and site draw's mode under the same rules
            (:func:`~molgen.nn.constrained.site_one_hot_argmax`).
        forest: no edge closes a cycle.
        connect: ``"tree"`` (default: the nodes kept form one tree), ``"join"`` or ``None``.
        max_cycle: with ``forest=False``, ``None`` or the longest cycle an edge may close
            (``>= 2``).

    Shapes:
        - **bond_logits** :math:`(B, N(N-1)/2, C)` or :math:`(B, N, N, C)`; **site_logits**
          :math:`(B, N(N-1)/2, 2, S)` (end 0 = the lower node) or :math:`(B, N, N, S)`;
          **site_budget** :math:`(B, N, S)`; **cost** :math:`(C)` with ``cost[0] == 0``;
          **node_mask** bool :math:`(B, N)`.
        - **output** ``(edges, sites)``: :math:`(B, N, N, C)`, exactly symmetric, and
          :math:`(B, N, N, S)`, ``sites[b, i, j]`` the one-hot site of node :math:`i` used by
          edge :math:`(i, j)`, zero where there is no edge.
    """

    def __init__(
        self,
        hard: bool = True,
        estimator: str = "st",
        gumbel_rao_samples: int = 8,
        eval_mode: str = "sample",
        forest: bool = True,
        connect: str | None = "tree",
        max_cycle: int | None = None,
    ) -> None:
        super().__init__(hard, estimator, gumbel_rao_samples, eval_mode)
        if not isinstance(forest, bool):
            raise ValueError(f"forest must be a bool, got {forest!r}")
        if forest and max_cycle is not None:
            raise ValueError(f"max_cycle={max_cycle!r} applies with forest=False only")
        self.forest = forest
        self.connect = _connect_rule(connect)
        self.max_cycle = None if max_cycle is None else constrained.MaxCycle(max_cycle).length

    def forward(
        self,
        bond_logits: Tensor,
        site_logits: Tensor,
        site_budget: Tensor,
        cost: Tensor,
        tau: float | Tensor = 1.0,
        node_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        rule_args = (bond_logits, site_logits, site_budget, cost)
        if self._deterministic:
            return constrained.site_one_hot_argmax(
                *rule_args,
                node_mask,
                self.forest,
                connect=self.connect,
                max_cycle=self.max_cycle,
            )
        return constrained.site_gumbel_softmax(
            *rule_args,
            tau,
            node_mask=node_mask,
            forest=self.forest,
            connect=self.connect,
            max_cycle=self.max_cycle,
            generator=generator,
            **self._sampler_kwargs(),
        )

    def extra_repr(self) -> str:
        text = super().extra_repr() + f", forest={self.forest}, connect={self.connect!r}"
        return text + ("" if self.max_cycle is None else f", max_cycle={self.max_cycle}")
