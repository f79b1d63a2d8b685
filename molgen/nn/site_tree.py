r"""Trees of nodes with attachment sites: per edge a bond class and a site at each end.

A node :math:`i` has sites :math:`s = 0 \dots S-1`, each with a budget :math:`b_{is}` (the
hydrogens a ring system's atom can give up; an atom node has one site, its valence). The graph
is drawn as a tree in node order, as ``connect="tree"`` of :mod:`molgen.nn.constrained` draws
one: for :math:`i = 1, \dots, N-1`, one edge :math:`(j, c)` to an earlier present node, drawn
with probability :math:`\propto \exp(\ell_{jic})` over the :math:`j < i` and classes
:math:`c \ge 1` for which both ends have a site with budget :math:`\ge \mathrm{cost}_c`
(preferring those that leave room for every later node's edge), then the site of each end,
drawn with probability :math:`\propto \exp(\sigma_{p,e,s})` over that end's sites with budget
:math:`\ge \mathrm{cost}_c`, whose budget then drops by :math:`\mathrm{cost}_c`. Hence
:math:`\sum \mathrm{cost}` of the edges at site :math:`s` of node :math:`i` never exceeds
:math:`b_{is}`, and every kept node bonds an earlier one: the graph is one tree (a forest of
one tree per sample). Nodes no tree in node order can attach get no edge
(:func:`~molgen.nn.constrained.tree_attachable` of the total budgets).

Every draw is a :func:`~molgen.nn.functional.gumbel_softmax` (straight-through when hard), so
bond and site logits get gradients; the argmax twin takes each draw's mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from molgen.nn.constrained import _finite_budget, _tree_room_needed, tree_attachable
from molgen.nn.functional import gumbel_softmax, one_hot_argmax

__all__ = ["site_budget_of", "site_gumbel_softmax", "site_one_hot_argmax"]

Draw = Callable[[Tensor, Tensor], Tensor]


def site_budget_of(nodes: Tensor, table: Tensor) -> Tensor:
    """``[B, N, S]``: the site budgets of the sampled node types, ``nodes [B, N, T]`` (one-hot,
    or classes ``[B, N]``) read in ``table [T, S]``."""
    if nodes.dim() == 3:
        nodes = nodes.detach().argmax(-1)
    return table.to(nodes.device)[nodes]


def _pair_ids(n: int, device: torch.device) -> Tensor:
    """``[N, N]`` long: the index of pair ``(min, max)`` in ``triu_indices(N, N, 1)`` order."""
    rows, cols = torch.triu_indices(n, n, offset=1, device=device)
    ids = torch.zeros(n, n, dtype=torch.long, device=device)
    ids[rows, cols] = ids[cols, rows] = torch.arange(len(rows), device=device)
    return ids


def _draw_tree(
    bond_logits: Tensor,
    site_logits: Tensor,
    site_budget: Tensor,
    cost: Tensor,
    node_mask: Tensor | None,
    draw: Draw,
) -> tuple[Tensor, Tensor]:
    batch, n_pairs, n_classes = bond_logits.shape
    n = site_budget.shape[1]
    if n * (n - 1) // 2 != n_pairs or site_logits.shape[:3] != (batch, n_pairs, 2):
        raise ValueError(
            f"bond_logits [B, P, C] {tuple(bond_logits.shape)}, site_logits [B, P, 2, S] "
            f"{tuple(site_logits.shape)} and site_budget [B, N, S] {tuple(site_budget.shape)} "
            "disagree (P = N(N-1)/2)"
        )
    device = bond_logits.device
    cost = torch.as_tensor(cost, dtype=torch.float64, device=device)
    remaining = site_budget.to(device=device, dtype=torch.float64).clone()  # [B, N, S]
    present = torch.ones(batch, n, dtype=torch.bool, device=device)
    if node_mask is not None:
        present = node_mask.to(device)
    present = present & tree_attachable(remaining.sum(-1), cost, present)
    room_needed = _tree_room_needed(remaining.sum(-1), cost, present)  # [B, N]
    ids = _pair_ids(n, device)
    graphs = torch.arange(batch, device=device)
    edges = bond_logits.new_zeros(batch, n, n, n_classes)
    edges[..., 0] = 1
    sites = site_logits.new_zeros(batch, n, n, site_logits.shape[-1])
    for i in range(1, n):
        pairs = ids[:i, i]  # [i]: pairs (j, i), j < i
        both = present[:, :i] & present[:, i : i + 1]  # [B, i]
        room = torch.minimum(
            remaining[:, :i].amax(-1), remaining[:, i : i + 1].amax(-1)
        )  # [B, i]: the largest bond order both ends can take
        fits = both.unsqueeze(-1) & (cost[1:] <= room.unsqueeze(-1))  # [B, i, C-1]
        total = _finite_budget(remaining.sum(-1), cost, n)  # [B, N]
        kept = (total[:, :i] * present[:, :i]).sum(1, keepdim=True) + total[:, i : i + 1]
        prefer = (kept - 2 * cost[1:] >= room_needed[:, i : i + 1]).unsqueeze(1)  # [B, 1, C-1]
        keeps = fits & prefer
        fits = torch.where(keeps.flatten(1).any(1).view(-1, 1, 1), keeps, fits).flatten(1)
        allowed = torch.cat([fits, ~fits.any(1, keepdim=True)], 1)  # [B, i(C-1) + 1]
        theta = torch.cat(
            [bond_logits[:, pairs, 1:].flatten(1), bond_logits.new_zeros(batch, 1)], 1
        )
        drawn = draw(theta.unsqueeze(1), allowed.unsqueeze(1))[:, 0]  # [B, i(C-1) + 1]
        pick = drawn.detach().argmax(-1)  # [B]
        attached = pick < fits.shape[1]
        j = torch.where(attached, pick // (n_classes - 1), 0)
        c = torch.where(attached, pick % (n_classes - 1) + 1, 0)
        edge = drawn[:, :-1].view(batch, i, n_classes - 1)
        entry = torch.cat([1 - edge.sum(-1, keepdim=True), edge], -1)  # [B, i, C]
        earlier = torch.arange(i, device=device)
        node_i = torch.full_like(earlier, i)
        edges = edges.index_put((graphs[:, None], earlier, node_i), entry)
        edges = edges.index_put((graphs[:, None], node_i, earlier), entry)
        spent = cost[c]  # [B]
        pair = pairs[j]  # [B]
        chosen = []
        for end, node in ((0, j), (1, torch.full_like(j, i))):
            budget = remaining[graphs, node]  # [B, S]
            mask = torch.where(attached.unsqueeze(-1), budget >= spent.unsqueeze(-1), True)
            site = draw(site_logits[graphs, pair, end].unsqueeze(1), mask.unsqueeze(1))[:, 0]
            site = site * attached.unsqueeze(-1).to(site.dtype)  # [B, S]
            remaining[graphs, node] -= site.detach().double() * spent.unsqueeze(-1)
            chosen.append(site)
        sites = sites.index_put((graphs, j, torch.full_like(j, i)), chosen[0])
        sites = sites.index_put((graphs, torch.full_like(j, i), j), chosen[1])
    return edges, sites


def site_gumbel_softmax(
    bond_logits: Tensor,
    site_logits: Tensor,
    site_budget: Tensor,
    cost: Tensor,
    tau: float | Tensor = 1.0,
    hard: bool = True,
    node_mask: Tensor | None = None,
    *,
    estimator: str = "st",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A tree with sites (module docstring): ``(edges [B, N, N, C], sites [B, N, N, S])``,
    ``sites[b, i, j]`` the site of node ``i`` used by edge ``(i, j)`` (zero without an edge).

    Shapes: ``bond_logits [B, P, C]`` (pairs in ``triu_indices(N, N, 1)`` order),
    ``site_logits [B, P, 2, S]`` (end 0 the lower index), ``site_budget [B, N, S]``,
    ``cost [C]`` with ``cost[0] == 0``, ``node_mask`` bool ``[B, N]``."""

    def draw(logits: Tensor, allowed: Tensor) -> Tensor:
        return gumbel_softmax(
            logits, tau, hard=hard, estimator=estimator, mask=allowed, generator=generator
        )

    return _draw_tree(bond_logits, site_logits, site_budget, cost, node_mask, draw)


@torch.no_grad()
def site_one_hot_argmax(
    bond_logits: Tensor,
    site_logits: Tensor,
    site_budget: Tensor,
    cost: Tensor,
    node_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The mode of :func:`site_gumbel_softmax`: each draw's argmax."""

    def draw(logits: Tensor, allowed: Tensor) -> Tensor:
        return one_hot_argmax(logits, mask=allowed)

    return _draw_tree(bond_logits, site_logits, site_budget, cost, node_mask, draw)
