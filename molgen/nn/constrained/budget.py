r""":class:`Budget`: no node spends more than its budget (valences and bond orders), the
tree it leaves room for (:func:`tree_attachable`), and the budgeted entry points
(:func:`budgeted_symmetric_gumbel_softmax`, :func:`budgeted_symmetric_one_hot_argmax`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from molgen.nn.constrained.cycles import MaxCycle
from molgen.nn.constrained.loop import (
    Candidates,
    EdgeState,
    Rule,
    _connect_rule,
    constrained_symmetric_gumbel_softmax,
    constrained_symmetric_one_hot_argmax,
)


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
    r"""The present nodes that a tree built in node order can attach within the budgets,
    ``[B, N]`` bool.

    With :math:`e = \min_{c \ge 1} \mathrm{cost}_c` (the cheapest edge), the first present
    node starts the tree with room :math:`b_{i_0}`; each later present node :math:`i` can
    attach if the room is at least :math:`e`, and then changes it by :math:`b_i - 2e`. Once a
    node cannot attach, the room never grows again, so no later node can either. The function
    is idempotent (the nodes it keeps are all kept again).

    ``connect="tree"`` with a :class:`Budget` draws no edge at the other nodes. A caller that
    draws the node types first marks them absent with this mask: drawing the types freely and
    then marking those nodes absent is drawing them in order with every type but "absent"
    masked where the tree could not attach them.

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


def _validated_cost(cost: Tensor | Sequence[float]) -> Tensor:
    """``cost`` as a float64 ``[C]`` tensor, finite, ``>= 0``, ``cost[0] == 0``."""
    cost = torch.as_tensor(cost, dtype=torch.float64)
    if cost.dim() != 1:
        raise ValueError(f"cost must have shape [C], got {tuple(cost.shape)}")
    if not bool(torch.isfinite(cost).all()) or bool((cost < 0).any()):
        raise ValueError(f"cost must be finite and >= 0, got {cost.tolist()}")
    if cost.numel() and cost[0] != 0:
        raise ValueError(f"cost[0] (class 0, no edge) must be 0, got {cost[0].item()}")
    return cost


def _check_cost_classes(cost: Tensor, classes: int) -> None:
    if tuple(cost.shape) != (classes,):
        raise ValueError(f"cost must have shape [C] = [{classes}], got {tuple(cost.shape)}")


def _tree_preferred(
    remaining: Tensor, cost: Tensor, room_needed: Tensor, state: EdgeState, candidates: Candidates
) -> Tensor:
    r"""``[B, 1, C]``: the classes of tree node :math:`i`'s edge that leave the nodes
    :math:`\le i` the room ``room_needed[:, i]`` (:func:`_tree_room_needed`), given each
    node's ``remaining`` budget ``[B, N]``: an edge of class :math:`c` takes
    :math:`\mathrm{cost}_c` from both ends."""
    i, n = candidates.tree_node, state.num_nodes
    # Room the earlier nodes keep after the edge: enough for the later nodes' tree edges.
    earlier = _finite_budget(remaining[:, :i], cost, n).mul(state.present[:, :i]).sum(1)
    kept = earlier.unsqueeze(-1) + _finite_budget(remaining[:, i : i + 1], cost, n)
    kept = kept - 2 * cost  # [B, C]
    return (kept >= room_needed[:, i : i + 1]).unsqueeze(1)  # [B, 1, C]


class Budget(Rule):
    r"""Each node spends at most its budget: class :math:`c` of pair :math:`\{i, j\}` is
    allowed only if :math:`\mathrm{cost}_c \le \min(b_i, b_j)`, and then
    :math:`b_i, b_j \leftarrow b_i - \mathrm{cost}_c, b_j - \mathrm{cost}_c`. Hence
    :math:`\sum_j \mathrm{cost}_{c_{ij}} \le \mathrm{budget}_i` for every node.

    Under ``connect="tree"`` the nodes outside :func:`tree_attachable` get no edge, and a tree
    edge is preferred if it leaves the earlier nodes room for every later present node's tree
    edge by the cheapest class (best effort where none does); then every kept node bonds an
    earlier one.

    Budgets and costs are kept in float64 (exact for integer valences and half-integer bond
    orders).

    Args:
        budget: ``[B, N]``, what each node may spend, :math:`\ge 0` (``inf``: no limit), e.g.
            the valences of the sampled atoms.
        cost: ``[C]``, what an edge of each class spends at both ends, :math:`\ge 0`, with
            ``cost[0] == 0``, e.g. the bond orders.
    """

    def __init__(self, budget: Tensor, cost: Tensor | Sequence[float]) -> None:
        if not isinstance(budget, Tensor) or budget.dim() != 2:
            shape = tuple(budget.shape) if isinstance(budget, Tensor) else type(budget).__name__
            raise ValueError(f"budget must be a tensor of shape [B, N], got {shape}")
        if bool(torch.isnan(budget).any()) or bool((budget < 0).any()):
            raise ValueError("budget must be >= 0 everywhere (inf = unlimited)")
        self.budget = budget
        self.cost = _validated_cost(cost)

    def _check(self, state: EdgeState) -> None:
        batch, n_pairs, classes = state.logits.shape
        if tuple(self.budget.shape) != (batch, state.num_nodes):
            raise ValueError(
                f"budget must have shape [B, N] = [{batch}, {state.num_nodes}] to match logits "
                f"[B, N(N-1)/2, C] or [B, N, N, C]; got budget {tuple(self.budget.shape)} "
                f"and {n_pairs} pairs"
            )
        _check_cost_classes(self.cost, classes)

    def attachable(self, state: EdgeState) -> Tensor:
        self._check(state)
        return tree_attachable(self.budget, self.cost, state.present)

    def init(self, state: EdgeState) -> None:
        self._check(state)
        device = state.logits.device
        self.cost_ = self.cost.to(device)
        self.remaining = self.budget.to(device=device, dtype=torch.float64, copy=True)
        self._room_needed = None
        if state.connect == "tree":
            self._room_needed = _tree_room_needed(self.remaining, self.cost_, state.present)

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        room = torch.minimum(
            self.remaining[:, candidates.left], self.remaining[:, candidates.right]
        )
        return self.cost_ <= room.unsqueeze(-1)  # [B, K, C]

    def prefer(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        if candidates.tree_node is None or self._room_needed is None:
            return None
        return _tree_preferred(self.remaining, self.cost_, self._room_needed, state, candidates)

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        spent = self.cost_[classes]  # [B, K]
        if candidates.bridging:  # a node may be in several candidates, one of them non-zero
            self.remaining.index_add_(1, candidates.left, spent.neg_())
            self.remaining.index_add_(1, candidates.right, spent)
        else:  # a round: no node twice
            self.remaining[:, candidates.left] -= spent
            self.remaining[:, candidates.right] -= spent


def budget_rules(budget: Tensor, cost: Tensor, max_cycle: int | None = None) -> tuple[Rule, ...]:
    """``(Budget(budget, cost),)``, and ``MaxCycle(max_cycle)`` unless it is None."""
    rules: tuple[Rule, ...] = (Budget(budget, cost),)
    return rules if max_cycle is None else (*rules, MaxCycle(max_cycle))


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
    connect: bool | str | None = None,
    gumbel_rao_samples: int = 8,
    max_cycle: int | None = None,
) -> Tensor:
    r"""A symmetric edge tensor in which no node spends more than its budget, and (with
    ``max_cycle``) no edge closes a cycle longer than that:
    :func:`constrained_symmetric_gumbel_softmax` with the rules
    ``(Budget(budget, cost), MaxCycle(max_cycle))``.

    .. math::
        \mathrm{cost}_c \le \min(b_i, b_j), \qquad
        \sum_j \mathrm{cost}_{c_{ij}} \le \mathrm{budget}_i

    ``connect``: ``None`` or ``False`` (no rule), ``"join"`` or ``True``, ``"tree"`` (also
    called ``"earlier"``). Shapes: ``logits`` ``[B, N(N-1)/2, C]`` or ``[B, N, N, C]``,
    ``budget`` ``[B, N]``, ``cost`` ``[C]``; returns ``[B, N, N, C]``.
    """
    rules = budget_rules(budget, cost, max_cycle)
    return constrained_symmetric_gumbel_softmax(
        logits,
        tau,
        rules=rules,
        connect=_connect_rule(connect, legacy=True),
        hard=hard,
        estimator=estimator,
        generator=generator,
        node_mask=node_mask,
        gumbel_rao_samples=gumbel_rao_samples,
    )


def budgeted_symmetric_one_hot_argmax(
    logits: Tensor,
    budget: Tensor,
    cost: Tensor,
    *,
    node_mask: Tensor | None = None,
    connect: bool | str | None = None,
    max_cycle: int | None = None,
) -> Tensor:
    """The deterministic mode of :func:`budgeted_symmetric_gumbel_softmax`
    (:func:`constrained_symmetric_one_hot_argmax` with the same rules)."""
    return constrained_symmetric_one_hot_argmax(
        logits,
        rules=budget_rules(budget, cost, max_cycle),
        connect=_connect_rule(connect, legacy=True),
        node_mask=node_mask,
    )
