r"""Constrained sampling of symmetric edge tensors: rules that mask the (pair, class) choices.

A graph of :math:`N` nodes is drawn pair by pair, each unordered pair :math:`\{i, j\}` once,
from its logits :math:`\ell_{ij} \in \mathbb{R}^C` (class 0 = no edge). Before each draw every
rule masks the classes it forbids given the graph drawn so far, and after it every rule updates
its own state with the classes drawn:

.. math::
    c_{ij} \sim \mathrm{Categorical}\big(\mathrm{softmax}(\ell_{ij})\ \text{restricted to}\
    \textstyle\bigcap_k \mathrm{allowed}_k(\{i, j\} \mid \text{graph so far})\big)

A masked class has probability exactly 0 and zero gradient, as with ``mask`` in
:func:`~molgen.nn.functional.gumbel_softmax`. The rules shipped here:

- :class:`Budget`: each node :math:`i` has a budget :math:`b_i` and an edge of class :math:`c`
  spends :math:`\mathrm{cost}_c` at both ends; a class is allowed only if it fits both ends'
  remaining budget, so :math:`\sum_j \mathrm{cost}_{c_{ij}} \le b_i` always (valences and
  bond orders).
- :class:`MaxCycle`: no edge closes a cycle longer than :math:`L` edges (no ring of more than
  :math:`L` atoms); ``MaxCycle(2)`` allows no cycle (a forest).
- :class:`SiteBudget`: each node has several *sites* :math:`s` with budgets :math:`b_{is}`
  (a ring system's atoms with hydrogens; an atom is one site, its valence); an edge of class
  :math:`c` is allowed only if both ends have a site with :math:`\mathrm{cost}_c` left, and
  the site at each end is then drawn by a masked Gumbel-Softmax over the site logits, so
  :math:`\sum_j \mathrm{cost}_{c_{ij}} [s_{ij} = s] \le b_{is}` always (fragment graphs;
  :func:`site_gumbel_softmax` samples edges and sites together).
- :class:`AromaticRings` (``connect="tree"``): the aromatic class only in whole rings of 5 or
  6 aromatic edges with a Kekule structure within the budgets, each fixed when the tree starts
  it and closed by an edge that a round must draw (:meth:`Rule.require`).

The pairs are drawn in rounds of pairs that share no node (a round-robin schedule of the
complete graph: :math:`N` rounds for odd :math:`N`, :math:`N - 1` for even), one
:func:`~molgen.nn.functional.gumbel_softmax` call per round over the batch, and the rules update
after each round. Round :math:`r` holds the pairs with :math:`i + j \equiv r \pmod m`
(:math:`m = N` odd, :math:`N - 1` even; for even :math:`N` node :math:`N - 1` meets the node
:math:`k` with :math:`2k \equiv r`), so pairs of low-index nodes come first. With no rule (or
rules that mask nothing) the law is that of :func:`~molgen.nn.functional.symmetric_gumbel_softmax`.

``connect`` makes the graph of present nodes connected (part of the sample, the same in
training and sampling):

- ``"tree"``: a spanning tree first, then the other pairs in rounds. Node by node,
  :math:`i = 1, \dots, N - 1`, one edge :math:`(j, c)` to an earlier present node is drawn
  with probability :math:`\propto \exp(\ell_{jic})` over the :math:`j < i` and classes
  :math:`c \ge 1` the rules allow, and among those the rules prefer where any (a
  :class:`Budget` prefers the edges that leave the earlier nodes room for every later node's
  tree edge). The nodes that no tree in node order can attach under the rules
  (:meth:`Rule.attachable`, e.g. :func:`tree_attachable` for a :class:`Budget`) are treated as
  absent: they get no edge. Every other present node bonds an earlier one, so the graph of the
  nodes kept is connected. In SMILES atom order every molecule has this form, so the rule
  excludes no molecule written in that order.
- ``"join"``: after the rounds, while two fragments can be joined by an edge the rules allow (a
  pair of present nodes in different fragments, a non-zero class), the highest-logit such
  (pair, class) is set, one per graph and step. The result is connected unless no allowed edge
  joins two fragments. The joined entry carries its drawn entry's gradient (straight-through).
- ``None``: no rule.

Rules plug into the one loop, :func:`_draw_edges`, through :class:`Rule`'s hooks; a new rule
(as :class:`AromaticRings` keeps aromatic bonds in whole rings and :class:`SiteBudget` makes
fragments bond only at their attachment sites) is a subclass, and the loop does not change.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from molgen.choices import CONNECT_ALIASES, CONNECT_DEFAULT, CONNECT_RULES, ESTIMATORS
from molgen.nn.functional import (
    _check_rows,
    _compute_dtype,
    _log_exponential,
    _mirror_pairs,
    _num_nodes,
    _pair_index,
    _upper_pairs,
    _validate_tau,
    gumbel_softmax,
    one_hot_argmax,
)

__all__ = [
    "NOT_AROMATIC",
    "PYRIDINE_OR_PYRROLE_TYPE",
    "PYRIDINE_TYPE",
    "PYRROLE_TYPE",
    "AromaticRings",
    "Budget",
    "Candidates",
    "EdgeState",
    "MaxCycle",
    "Rule",
    "SiteBudget",
    "budgeted_symmetric_gumbel_softmax",
    "budgeted_symmetric_one_hot_argmax",
    "constrained_symmetric_gumbel_softmax",
    "constrained_symmetric_one_hot_argmax",
    "site_budget_of",
    "site_gumbel_softmax",
    "site_one_hot_argmax",
    "tree_attachable",
]

#: ``draw(logits [B, K, D], allowed [B, K, D]) -> [B, K, D]``: ``K`` independent rows.
Draw = Callable[[Tensor, Tensor], Tensor]


@dataclass
class EdgeState:
    """What the rules may read while a batch of graphs is drawn.

    Attributes:
        logits: ``[B, P, C]``, the logits of the pairs :math:`i < j` in
            ``torch.triu_indices(N, N, 1)`` order (``P = N(N-1)/2``).
        num_nodes: :math:`N`.
        present: bool ``[B, N]``, the nodes that may get edges (the caller's ``node_mask``
            narrowed by :meth:`Rule.attachable` under ``connect="tree"``). Fixed once the
            rules' :meth:`Rule.init` run.
        connect: ``None``, ``"join"`` or ``"tree"``.
        classes: long ``[B, P]``, the class each pair was given so far (0 until it is drawn;
            the argmax of a relaxed draw). Updated by the loop after the rules' updates.
        rows, cols: long ``[P]``, the two nodes of each pair (``rows < cols``).
    """

    logits: Tensor
    num_nodes: int
    present: Tensor
    connect: str | None
    classes: Tensor
    rows: Tensor
    cols: Tensor


@dataclass(frozen=True)
class Candidates:
    """The pairs one draw decides, the same for every graph of the batch.

    Attributes:
        left, right: long ``[K]``, the two nodes of each candidate pair (``left < right``).
        pairs: long ``[K]``, their pair indices (entries of :attr:`EdgeState.classes`).
        bridging: False for a round (every candidate is drawn, and no node is in two of
            them). True when at most one candidate per graph gets an edge and that edge joins
            two components of the graph drawn so far (a tree edge, a joining edge): it closes
            no cycle.
        tree_node: the node whose tree edge is drawn (``right`` is all this node and ``left``
            the nodes before it), else None.
    """

    left: Tensor
    right: Tensor
    pairs: Tensor
    bridging: bool = False
    tree_node: int | None = None


class Rule:
    r"""A constraint on the edges of :func:`constrained_symmetric_gumbel_softmax`.

    The loop calls, for each batch of graphs:

    1. :meth:`attachable` (only under ``connect="tree"``), before anything else: the present
       nodes a tree drawn in node order can attach under this rule; the others become absent.
    2. :meth:`init`, once :attr:`EdgeState.present` is final: set up this rule's state for the
       batch (one rule object serves successive calls; ``init`` resets it).
    3. For each draw (each round, each tree node, each joining step) over
       :class:`Candidates` ``[K]``: :meth:`mask`, the classes the rule allows, bool
       broadcastable to ``[B, K, C]`` (None: all); under ``"tree"`` also :meth:`prefer`, a
       subset to keep where it leaves an option (best effort, never forcing a masked class);
       in a round also :meth:`require`, the pairs that must get an edge. Class 0 ("no edge")
       is allowed in a round whatever the masks say, unless a rule requires the pair's edge
       and some non-zero class is allowed for it (every row stays drawable).
    4. :meth:`update` with the classes drawn, long ``[B, K]`` (0 where no edge was added).

    A rule's guarantee may rest only on these hooks: every edge of the sample went through
    :meth:`mask` and :meth:`update`, in the order drawn. Costs that are not integers (an
    aromatic bond spending 1.5) are a :class:`Budget`'s ``cost``; a rule on which bonds may
    close a ring reads :attr:`EdgeState.classes` and :attr:`Candidates.bridging` (e.g. allow
    an aromatic ring-closing bond only between ends already joined by an aromatic path); a
    rule on where pieces may bond keeps a ``[B, N]`` mask of its own (e.g. a fragment's
    attachment sites) and masks the candidates at the other nodes.
    """

    def attachable(self, state: EdgeState) -> Tensor | None:
        """bool ``[B, N]``: the present nodes a tree in node order can attach (None: all)."""
        return None

    def init(self, state: EdgeState) -> None:
        """Set up the rule's state for the batch in ``state``."""

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        """bool, broadcastable to ``[B, K, C]``: the classes allowed (None: all)."""
        return None

    def prefer(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        """bool, broadcastable to ``[B, K, C]``: the tree edges to prefer (None: no preference)."""
        return None

    def require(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        """bool ``[B, K]``: the candidates of a round that must get a non-zero class (None:
        none); the rule's own :meth:`mask` says which, and it must keep one allowed."""
        return None

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        """Take in the classes drawn for the candidates, long ``[B, K]``."""


# ------------------------------------------------------------------------------ budget


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


# ------------------------------------------------------------------------ site budget


def _site_capacity(site_budget: Tensor, cheapest: float) -> Tensor:
    r"""``[B, N]``: what each node can spend on edges of the cheapest class
    :math:`e = \min_{c \ge 1} \mathrm{cost}_c` (``cheapest``), site by site:
    :math:`\sum_s e \lfloor b_s / e \rfloor` (the total :math:`\sum_s b_s` when :math:`e = 0`).
    With integer budgets and :math:`e = 1` it is the total."""
    if cheapest <= 0:
        return site_budget.sum(-1)
    return (site_budget / cheapest).floor_().mul_(cheapest).sum(-1)


def _shape(value: object) -> object:
    """A tensor's shape as a tuple, else the value's type name (for error messages)."""
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def site_budget_of(nodes: Tensor, site_budget_table: Tensor) -> Tensor:
    r"""The site budgets of sampled nodes, ``[B, N, S]``: :math:`b_{ns} = \sum_t x_{nt}
    \, \mathrm{table}_{ts}`.

    Args:
        nodes: one-hot (or relaxed) node types ``[B, N, T]``, or their classes, long
            ``[B, N]``.
        site_budget_table: ``[T, S]``, the budget of site :math:`s` of node type :math:`t`
            (an atom type: its valence at site 0; a ring system: the hydrogens of each site;
            0 for the sites a type lacks), e.g.
            :meth:`~molgen.chem.fragments.FragmentVocabulary.site_budgets` with the atom
            valences written into column 0.

    Returns:
        ``[B, N, S]``, float (the dtype of a float ``nodes``, else float32).
    """
    if not isinstance(site_budget_table, Tensor) or site_budget_table.dim() != 2:
        raise ValueError(
            f"site_budget_table must be a tensor [T, S], got {_shape(site_budget_table)}"
        )
    if not isinstance(nodes, Tensor) or nodes.dim() not in (2, 3):
        raise ValueError(f"nodes must be one-hot [B, N, T] or classes [B, N], got {_shape(nodes)}")
    types = site_budget_table.shape[0]
    if nodes.dim() == 2:
        if nodes.is_floating_point() or nodes.dtype == torch.bool:
            raise ValueError(f"node classes [B, N] must be integers, got {nodes.dtype}")
        if nodes.numel() and not 0 <= int(nodes.min()) <= int(nodes.max()) < types:
            raise ValueError(f"node classes must lie in [0, {types}), got {nodes.unique()}")
        return site_budget_table.to(device=nodes.device, dtype=torch.float32)[nodes]
    if nodes.shape[-1] != types:
        raise ValueError(
            f"nodes [B, N, T] has T = {nodes.shape[-1]} types, site_budget_table has {types}"
        )
    dtype = nodes.dtype if nodes.is_floating_point() else torch.float32
    return nodes.to(dtype) @ site_budget_table.to(device=nodes.device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _site_end_index(n: int) -> Tensor:
    r"""``[N * N]``: the end of pair :math:`\{i, j\}` that entry :math:`(i, j)` reads, 0 when
    :math:`i < j` (the lower node) and 1 when :math:`i > j`; 0 on the diagonal."""
    rows = torch.arange(n).repeat_interleave(n)
    return (rows > torch.arange(n).repeat(n)).long()


def _mirror_sites(pair_sites: Tensor) -> Tensor:
    """``[B, N, N, S]`` from the ``[B, P, 2, S]`` sites of the pairs' two ends: entry
    :math:`(i, j)` is the end at node :math:`i`; zero on the diagonal."""
    batch, n_pairs, _, sites = pair_sites.shape
    n = _num_nodes(n_pairs)
    table = torch.cat([pair_sites, pair_sites.new_zeros(batch, 1, 2, sites)], 1)
    device = pair_sites.device
    entries = table[:, _pair_index(n).to(device), _site_end_index(n).to(device)]
    return entries.view(batch, n, n, sites)


class SiteBudget(Rule):
    r"""Each edge bonds one *site* at each end, and no site spends more than its budget
    (fragment graphs: a ring system bonds other nodes at its atoms with hydrogens, each at most
    its hydrogen count; an atom is one site, its valence).

    Node :math:`i` has site budgets :math:`b_{is}`, :math:`s < S` (0 for sites it lacks).
    Class :math:`c` of pair :math:`\{i, j\}` is allowed only if some site of :math:`i` and some
    site of :math:`j` have :math:`r_{is} \ge \mathrm{cost}_c` left (the remaining budgets
    :math:`r`, at first :math:`b`). For each edge drawn, the site at each end is then drawn,
    end 0 at the lower node :math:`i`, end 1 at :math:`j`, by a masked Gumbel-Softmax over
    that end's site logits :math:`\lambda_{p,e}`:

    .. math::
        s_i \sim \mathrm{Categorical}\big(\mathrm{softmax}(\lambda_{p,0})\ \text{restricted
        to}\ \{s : r_{is} \ge \mathrm{cost}_c\}\big), \qquad
        r_{i s_i} \leftarrow r_{i s_i} - \mathrm{cost}_c

    (the same at :math:`j` with :math:`\lambda_{p,1}`), independently of the class draw given
    :math:`c`. A masked site has probability exactly 0 and zero gradient; the hard one-hot
    site carries the gradient of the chosen estimator (straight-through by default) to
    ``site_logits``. Hence, for every sample, node and site:
    :math:`\sum_j \mathrm{cost}_{c_{ij}} [s_{ij} = s] \le b_{is}`.

    Under ``connect="tree"`` the rule acts as a :class:`Budget` on each node's capacity for
    the cheapest class :math:`e = \min_{c \ge 1} \mathrm{cost}_c`,
    :math:`\sum_s e \lfloor b_{is}/e \rfloor` (the total hydrogens, for integer budgets): the
    nodes outside :func:`tree_attachable` of it get no edge, and a tree edge is preferred if
    it leaves room for every later node's tree edge. Unlike :class:`Budget`, a present node of
    capacity :math:`< e` (it can bond nothing) is left out too, unless it is the first present
    node (then it is the whole graph). A node with capacity :math:`\ge e` has a site with
    :math:`\ge e`, so with integer costs and budgets and :math:`e = 1` every kept node bonds an
    earlier one. With :class:`MaxCycle` ``(2)`` no other edge closes a cycle, so the kept nodes
    form one tree.

    After a sample, :attr:`sites` holds the sites drawn: ``[B, N, N, S]``, where
    ``sites[b, i, j]`` is the one-hot site of node :math:`i` that edge :math:`(i, j)` uses,
    zero where there is no edge (its ``argmax`` is the dense ``sites[b, i, j]`` of
    :mod:`molgen.chem.fragments`).

    How: every pair end is drawn at most once, so :meth:`init` draws the Gumbel noise
    :math:`g` of all pair ends at once, and each update takes
    :math:`\arg\max_s (\lambda_{p,e,s} + g_{p,e,s})` over the sites allowed then, recording
    the mask. When :attr:`sites` is first read, one
    :func:`~molgen.nn.functional.gumbel_softmax` call over all pair ends, with the same noise
    and the recorded masks, gives the estimator's gradient (the forward value stays the
    sites drawn). Its seed comes from ``generator`` (the global generator when None) in
    :meth:`init`, so passing the sampler's generator makes the whole sample reproducible,
    with or without grad.

    Args:
        site_budget: ``[B, N, S]``, the budget of each site, :math:`\ge 0` (e.g.
            :func:`site_budget_of` of the sampled node types).
        cost: ``[C]``, what an edge of each class spends at the site of each end, ``>= 0``,
            ``cost[0] == 0`` (the bond orders).
        site_logits: the site logits of each pair's two ends, ``[B, N(N-1)/2, 2, S]``
            (pairs in ``torch.triu_indices(N, N, 1)`` order, end 0 the lower node), or dense
            ``[B, N, N, S]`` (``[b, i, j]``: node :math:`i`'s site for the edge to :math:`j`).
        tau, hard, estimator, gumbel_rao_samples: of the site draws, as in
            :func:`~molgen.nn.functional.gumbel_softmax` (``tau`` a number or 0-dim tensor).
            With ``hard=False`` :attr:`sites` is relaxed and the budgets are spent at its
            argmax.
        generator: the source of the site draws' seed.
        argmax: take each site draw's mode (the allowed site of highest logit) instead of a
            sample (no noise, no gradient).
    """

    def __init__(
        self,
        site_budget: Tensor,
        cost: Tensor | Sequence[float],
        site_logits: Tensor,
        tau: float | Tensor = 1.0,
        *,
        hard: bool = True,
        estimator: str = "st",
        gumbel_rao_samples: int = 8,
        generator: torch.Generator | None = None,
        argmax: bool = False,
    ) -> None:
        if not isinstance(site_budget, Tensor) or site_budget.dim() != 3:
            shape = _shape(site_budget)
            raise ValueError(f"site_budget must be a tensor of shape [B, N, S], got {shape}")
        if site_budget.shape[-1] == 0:
            raise ValueError("site_budget has no sites (S = 0)")
        if bool(torch.isnan(site_budget).any()) or bool((site_budget < 0).any()):
            raise ValueError("site_budget must be >= 0 everywhere")
        if not isinstance(site_logits, Tensor) or not site_logits.is_floating_point():
            raise ValueError("site_logits must be a floating-point tensor")
        if isinstance(tau, Tensor) and tau.dim() > 0:
            raise ValueError("SiteBudget takes a scalar tau (number or 0-dim tensor)")
        if not argmax:
            _validate_tau(tau, site_logits)
            if estimator not in ESTIMATORS:
                raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        self.site_budget = site_budget
        self.cost = _validated_cost(cost)
        self._cheapest = self.cost[1:].min().item() if len(self.cost) > 1 else 0.0
        self.site_logits = site_logits
        self.tau, self.hard, self.estimator = tau, hard, estimator
        self.gumbel_rao_samples = gumbel_rao_samples
        self.generator = generator
        self.argmax = argmax

    def _check(self, state: EdgeState) -> None:
        batch, n_pairs, classes = state.logits.shape
        n, sites = state.num_nodes, self.site_budget.shape[-1]
        if tuple(self.site_budget.shape[:2]) != (batch, n):
            raise ValueError(
                f"site_budget must have shape [B, N, S] = [{batch}, {n}, S] to match logits "
                f"[B, N(N-1)/2, C] or [B, N, N, C]; got {tuple(self.site_budget.shape)}"
            )
        _check_cost_classes(self.cost, classes)
        shape = tuple(self.site_logits.shape)
        if shape not in ((batch, n_pairs, 2, sites), (batch, n, n, sites)):
            raise ValueError(
                f"site_logits must have shape [B, N(N-1)/2, 2, S] = {(batch, n_pairs, 2, sites)}"
                f" or [B, N, N, S] = {(batch, n, n, sites)}, got {shape}"
            )

    def attachable(self, state: EdgeState) -> Tensor:
        self._check(state)
        device = state.present.device
        capacity = _site_capacity(self.site_budget.to(device).double(), self._cheapest)
        # A node with no site for the cheapest class bonds nothing: unless it is the first
        # present node (then the tree is that node alone), it is left out, not kept unbonded.
        first = state.present & (state.present.long().cumsum(1) == 1)
        bondable = state.present & ((capacity >= self._cheapest) | first)
        return tree_attachable(capacity, self.cost.to(device), bondable)

    def init(self, state: EdgeState) -> None:
        self._check(state)
        device, n = state.logits.device, state.num_nodes
        self.cost_ = self.cost.to(device)
        self.remaining = self.site_budget.to(device=device, dtype=torch.float64, copy=True)
        logits = self.site_logits.to(device)
        if tuple(logits.shape[1:3]) == (n, n):  # dense: [b, i, j] is end 0, [b, j, i] end 1
            rows, cols = state.rows, state.cols
            logits = torch.stack([logits[:, rows, cols], logits[:, cols, rows]], 2)
        self._logits = logits  # [B, P, 2, S]
        # What the updates drew: the sites' masks (all allowed where no edge), the sites
        # chosen, the pairs with an edge.
        self._allowed = torch.ones(logits.shape, dtype=torch.bool, device=device)
        self._chosen = torch.zeros(logits.shape[:3], dtype=torch.long, device=device)
        self._edge = torch.zeros(logits.shape[:2], dtype=torch.bool, device=device)
        self._pair_sites: Tensor | None = None
        self._room: Tensor | None = None  # [B, N]: the most any one site has left
        self._room_needed = None
        if state.connect == "tree":
            capacity = _site_capacity(self.remaining, self._cheapest)
            self._room_needed = _tree_room_needed(capacity, self.cost_, state.present)
        scores = logits.detach().to(_compute_dtype(logits.dtype))
        if not self.argmax:
            seed_device = device if self.generator is None else self.generator.device
            seed = torch.randint(2**62, (1,), generator=self.generator, device=seed_device)
            self._seed = int(seed)
            # The noise the estimator's gumbel_softmax call in `pair_sites` draws from a
            # generator of this seed: the argmax of the scores is its hard sample.
            noise = torch.Generator(device).manual_seed(self._seed)
            scores = scores - _log_exponential(logits.shape, scores.dtype, device, noise)
        self._scores = scores  # [B, P, 2, S]

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        if self._room is None:
            self._room = self.remaining.amax(-1)
        room = torch.minimum(self._room[:, candidates.left], self._room[:, candidates.right])
        return self.cost_ <= room.unsqueeze(-1)  # [B, K, C]

    def prefer(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        if candidates.tree_node is None or self._room_needed is None:
            return None
        capacity = _site_capacity(self.remaining, self._cheapest)
        return _tree_preferred(capacity, self.cost_, self._room_needed, state, candidates)

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        graphs, rows = (classes > 0).nonzero(as_tuple=True)  # [M]: the edges just drawn
        if graphs.numel() == 0:
            return
        pairs = candidates.pairs[rows]
        ends = torch.stack([candidates.left[rows], candidates.right[rows]], 1)  # [M, 2]
        spent = self.cost_[classes[graphs, rows]]  # [M]
        at = (graphs.unsqueeze(1), ends)  # the [M, 2] (graph, node) of both ends
        allowed = self.remaining[at] >= spent.view(-1, 1, 1)  # [M, 2, S]
        scores = self._scores[graphs, pairs].masked_fill(~allowed, -math.inf)
        _check_rows(scores.amax(-1))
        chosen = scores.argmax(-1)  # [M, 2]
        self.remaining.index_put_((*at, chosen), -spent.view(-1, 1).expand(-1, 2), accumulate=True)
        self._allowed[graphs, pairs] = allowed
        self._chosen[graphs, pairs] = chosen
        self._edge[graphs, pairs] = True
        self._room = self._pair_sites = None

    @property
    def pair_sites(self) -> Tensor:
        """``[B, N(N-1)/2, 2, S]``: the one-hot site of each pair's two ends (end 0 the lower
        node), zero where the pair has no edge; of the last sample."""
        if self._pair_sites is None:
            edge = self._edge.unsqueeze(-1).unsqueeze(-1)  # [B, P, 1, 1]
            sites = self._logits.shape[-1]
            chosen = torch.nn.functional.one_hot(self._chosen, sites).to(self._logits.dtype)
            tau = self.tau
            needs_grad = torch.is_grad_enabled() and (
                self._logits.requires_grad or (isinstance(tau, Tensor) and tau.requires_grad)
            )
            if self.argmax or (self.hard and not needs_grad):
                self._pair_sites = chosen * edge
            else:
                self._pair_sites = self._estimate(chosen, edge)
        return self._pair_sites

    def _estimate(self, chosen: Tensor, edge: Tensor) -> Tensor:
        """The sites drawn, one-hot ``chosen``, with the estimator's gradient: one
        :func:`~molgen.nn.functional.gumbel_softmax` over every pair end, the noise of
        :meth:`init` and the masks of the updates (relaxed sites for ``hard=False``)."""
        generator = torch.Generator(self._logits.device).manual_seed(self._seed)
        sample = gumbel_softmax(
            torch.where(edge, self._logits, 0.0),  # rows without an edge: any finite row
            self.tau,
            hard=self.hard,
            estimator=self.estimator,
            mask=self._allowed,
            generator=generator,
            gumbel_rao_samples=self.gumbel_rao_samples,
        )
        if self.hard:  # the value is the sites drawn, even where noise ties broke otherwise
            sample = chosen + (sample - sample.detach())
        return sample * edge

    @property
    def sites(self) -> Tensor:
        """``[B, N, N, S]``: ``sites[b, i, j]`` the one-hot site of node :math:`i` that edge
        :math:`(i, j)` uses, zero where there is no edge; of the last sample."""
        return _mirror_sites(self.pair_sites)


# ---------------------------------------------------------------------------- aromatic rings

#: :class:`AromaticRings` roles of a node: no aromatic bond; a pyridine-type node (one Kekule
#: double bond in its ring: C); a pyrrole-type node (a lone pair, two single bonds: O, S, NH);
#: a node that is pyridine-type, or pyrrole-type when it starts a ring with a bond already
#: (N: pyridine's n, or N-substituted pyrrole's n).
NOT_AROMATIC, PYRIDINE_TYPE, PYRROLE_TYPE, PYRIDINE_OR_PYRROLE_TYPE = 0, 1, 2, 3

#: The most nodes a ring of :class:`AromaticRings` has.
_RING_MAX = 6


class AromaticRings(Rule):
    r"""Aromatic edges only in whole rings of 5 or 6 aromatic edges that have a Kekule
    structure, each drawn as a unit under ``connect="tree"``.

    A ring starts when tree node :math:`i` takes the aromatic class to an earlier node
    :math:`j`; it is then :math:`(j, n_1 = i, n_2, \dots, n_{L-1})` with :math:`n_k` the
    present nodes that follow :math:`i` in node order, of size :math:`L = 5` if those nodes
    hold exactly one pyrrole-type node and otherwise only pyridine-type ones (roles,
    :data:`PYRIDINE_TYPE`, :data:`PYRROLE_TYPE`), :math:`L = 6` if all :math:`L` are
    pyridine-type. The start is allowed only where one of those sizes (in ``sizes``) fits and
    :math:`j` is in no ring and has the budget for it (a :data:`PYRIDINE_OR_PYRROLE_TYPE`
    node counts as pyrrole-type at the start if its budget left is exactly its two aromatic
    edges, e.g. an N bonded to its substituent, and as pyridine-type everywhere else); the
    ring is then fixed:

    - each :math:`n_k`, :math:`k \ge 2`, has only its aromatic tree edge to :math:`n_{k-1}`
      allowed (the tree draws one edge per node, so it is drawn);
    - the pair :math:`(j, n_{L-1})` has only the aromatic class allowed and is required in its
      round (:meth:`Rule.require`), which comes after the tree;
    - the aromatic class is masked everywhere else;
    - each ring node keeps, on top of what :class:`Budget` ``budget`` allows, a reserve of the
      budget still to spend on its aromatic edges and, if pyridine-type, one more for its
      Kekule double bond; a pyrrole-type node keeps its whole budget (no other edge, e.g. no
      substituent on furan's O). Other classes are masked where they would eat into it.

    So every aromatic edge of a sample lies in a ring of 5 or 6 aromatic edges, the rings
    share no node, and each has a Kekule structure that fits the budgets: a 6-ring of
    pyridine-type nodes alternates, a 5-ring matches its four pyridine-type nodes in pairs
    around the pyrrole-type one. With costs 1 for an aromatic edge (its single-bond part), a
    pyridine-type node spends 3 on its two aromatic edges (the 1.5 each of an aromatic bond)
    and a pyrrole-type node 2 (its lone pair gives the third electron pair).

    Assumes the ring sizes fit every other rule (e.g. ``sizes`` at most a
    :class:`MaxCycle`'s length) and that ``budget`` is the :class:`Budget` among the rules.

    Args:
        budget: the :class:`Budget` rule whose remaining budgets the reserves protect.
        roles: long ``[B, N]``, each node's role (:data:`NOT_AROMATIC`, :data:`PYRIDINE_TYPE`,
            :data:`PYRROLE_TYPE`, :data:`PYRIDINE_OR_PYRROLE_TYPE`).
        aromatic: the aromatic edge class (``>= 1``).
        sizes: the ring sizes allowed, a subset of ``(5, 6)``.
    """

    def __init__(
        self, budget: Budget, roles: Tensor, aromatic: int, sizes: Sequence[int] = (5, 6)
    ) -> None:
        if not isinstance(budget, Budget):
            raise ValueError(f"budget must be the Budget rule, got {type(budget).__name__}")
        if not isinstance(roles, Tensor) or tuple(roles.shape) != tuple(budget.budget.shape):
            shape = tuple(roles.shape) if isinstance(roles, Tensor) else type(roles).__name__
            raise ValueError(f"roles must be [B, N] like the budget, got {shape}")
        known = (NOT_AROMATIC, PYRIDINE_TYPE, PYRROLE_TYPE, PYRIDINE_OR_PYRROLE_TYPE)
        if roles.is_floating_point() or not bool(
            torch.isin(roles, torch.tensor(known, device=roles.device)).all()
        ):
            raise ValueError(f"roles must be integers in {known}")
        if isinstance(aromatic, bool) or not isinstance(aromatic, int) or aromatic < 1:
            raise ValueError(f"aromatic must be an edge class >= 1, got {aromatic!r}")
        if not sizes or not set(sizes) <= {5, 6}:
            raise ValueError(f"sizes must be a non-empty subset of (5, 6), got {sizes!r}")
        self.budget = budget
        self.roles = roles.long()
        self.aromatic = aromatic
        self.sizes = tuple(sorted(set(sizes)))

    def init(self, state: EdgeState) -> None:
        if state.connect != "tree":
            raise ValueError(f"AromaticRings needs connect='tree', got {state.connect!r}")
        if self.aromatic >= state.logits.shape[-1]:
            raise ValueError(
                f"aromatic class {self.aromatic} is not one of the {state.logits.shape[-1]}"
            )
        n, device, present = state.num_nodes, state.logits.device, state.present
        budget = self.budget.budget.to(device=device, dtype=torch.float64)
        cost = self.budget.cost.to(device)
        roles = torch.where(present, self.roles.to(device), NOT_AROMATIC)
        # A node whose budget cannot hold its ring edges (and double) takes no part.
        need = torch.where(roles == PYRROLE_TYPE, 2.0, 3.0).double()
        self.role = torch.where(budget >= need, roles, NOT_AROMATIC)  # as a ring's start
        # A later ring node has no bond before its tree edge: pyridine-type if it may be.
        member = torch.where(self.role == PYRIDINE_OR_PYRROLE_TYPE, PYRIDINE_TYPE, self.role)
        # The ring a start at tree node i would make: i and the present nodes after it.
        batch = present.shape[0]
        position = present.long().cumsum(1) - 1  # [B, N]
        by_position = torch.argsort((~present).long(), dim=1, stable=True)  # present first
        wanted = position.unsqueeze(-1) + torch.arange(_RING_MAX - 1, device=device)
        exists = present.unsqueeze(-1) & (wanted < present.sum(1).view(-1, 1, 1))
        after = by_position.gather(1, wanted.clamp(0, n - 1).flatten(1)).view(batch, n, -1)
        self.following = torch.where(exists, after, -1)  # [B, N, 5]
        kinds = torch.where(exists, member.gather(1, after.flatten(1)).view_as(after), 0)
        self.five_ok = (kinds[..., :4] != NOT_AROMATIC).all(-1) & (5 in self.sizes)  # [B, N]
        self.five_lone_pairs = (kinds[..., :4] == PYRROLE_TYPE).sum(-1)  # [B, N]
        self.six_ok = (kinds == PYRIDINE_TYPE).all(-1) & (6 in self.sizes)  # [B, N]
        # What each ring node keeps: its aromatic edges and Kekule double, or all it has.
        self.full = budget
        self.need = torch.where(member == PYRIDINE_TYPE, 3.0, budget)
        # Beyond its two aromatic edges, a ring node keeps a double bond (pyridine-type) or
        # the rest of its budget (pyrrole-type): room a tree (Budget's prefer) cannot use.
        self.beyond = torch.where(
            member == NOT_AROMATIC, 0.0, _finite_budget(self.need, cost, n) - 2
        )
        self.ring_room = {size: self._ring_room_needed(state, cost, size) for size in self.sizes}
        self.reserve = torch.zeros_like(budget)
        self.in_ring = torch.zeros_like(present)
        self.parent = torch.full_like(self.role, -1)  # the forced tree edge of a ring node
        self.closing = torch.zeros_like(state.classes, dtype=torch.bool)  # [B, P]
        self.pair_index = _pair_index(n).to(device).view(n, n)

    def _size(self, role: Tensor, node: int) -> Tensor:
        """``[B, K]``: the ring size a start at earlier nodes of roles ``role [B, K]`` (as a
        start: pyridine- or pyrrole-type) with tree node ``node`` makes (0: none)."""
        lone_pairs = self.five_lone_pairs[:, node : node + 1] + (role == PYRROLE_TYPE).long()
        five = self.five_ok[:, node : node + 1] & (role != NOT_AROMATIC) & (lone_pairs == 1)
        six = self.six_ok[:, node : node + 1] & (role == PYRIDINE_TYPE)
        return torch.where(five, 5, torch.where(six, 6, 0))

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        room = self.budget.remaining - self.reserve  # [B, N]
        left, right = candidates.left, candidates.right
        ends = torch.minimum(room[:, left], room[:, right])  # [B, K]
        other = self.budget.cost_ <= ends.unsqueeze(-1)  # [B, K, C]
        i = candidates.tree_node
        if i is None:  # a round: the ring closures, and only they, are aromatic
            aromatic = self.closing[:, candidates.pairs]  # [B, K]
            other = other & ~aromatic.unsqueeze(-1)
        else:
            role, fits, need = self._starts(room, left)
            self._start = (i, role, need)  # for prefer and update of the same draw
            opens = ~self.in_ring[:, left] & fits & (self._size(role, i) > 0)
            parent = self.parent[:, i : i + 1]  # [B, 1]
            planned = parent >= 0
            aromatic = torch.where(planned, left == parent, opens)
            other = other & ~planned.unsqueeze(-1)
        return torch.cat(
            [other[..., : self.aromatic], aromatic.unsqueeze(-1), other[..., self.aromatic + 1 :]],
            -1,
        )

    def _starts(self, room: Tensor, left: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(role, fits, need)``, each ``[B, K]``, of the earlier nodes ``left`` as a ring's
        start: pyridine- or pyrrole-type (or not aromatic), whether the budget left allows it,
        and what it then keeps of its budget (its ring edges and double, or all it has)."""
        role, remaining = self.role[:, left], self.budget.remaining[:, left]
        substituted = (role == PYRIDINE_OR_PYRROLE_TYPE) & (remaining == 2)
        lone_pair = (role == PYRROLE_TYPE) | substituted
        fits = torch.where(
            role == PYRROLE_TYPE,
            remaining >= self.full[:, left],  # no edge yet
            substituted | (room[:, left] >= 3),
        )
        role = torch.where(
            lone_pair, PYRROLE_TYPE, torch.where(role == NOT_AROMATIC, role, PYRIDINE_TYPE)
        )
        return role, fits, torch.where(lone_pair, remaining, 3.0)

    def _ring_room_needed(self, state: EdgeState, cost: Tensor, size: int) -> Tensor:
        r"""``[B, N]``: the room the nodes :math:`\le i` must keep after tree node :math:`i`
        starts a ring of ``size`` so that every later present node can still get a tree edge:
        :func:`_tree_room_needed` with each later ring node's gain less what it keeps beyond
        its tree edges, and the last one's less its unit of the closing edge."""
        batch, n = self.role.shape
        gain, cheapest = _tree_gains(self.full, cost, state.present)  # [B, N]
        ring = self.following[..., 1 : size - 1]  # [B, N, size - 2]: n_2 .. n_{L-1}
        kept = self.beyond.gather(1, ring.clamp(min=0).flatten(1)).view_as(ring)
        kept[..., -1] += 1  # the closing edge
        kept = torch.where(ring >= 0, kept, 0.0)
        # net[b, i, m]: node m's gain to the tree's room after a ring starts at node i
        spare = torch.zeros(batch, n, n + 1, dtype=kept.dtype, device=kept.device)
        spare.scatter_add_(2, torch.where(ring >= 0, ring, n), kept)
        net = gain.unsqueeze(1) - spare[..., :n]  # [B, N, N]
        later = torch.ones(n, n, dtype=torch.bool, device=net.device).triu(1)  # m > i
        net = torch.where(later, net, 0.0)
        before = net.cumsum(-1) - net  # sum of the nets of the nodes i < m < k
        threshold = torch.where(later & state.present.unsqueeze(1), cheapest - before, -math.inf)
        return threshold.amax(-1).clamp(min=0.0)  # [B, N]

    def prefer(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        r""":class:`Budget`'s preference with the reserves left out of the room; a ring start
        also charges the room its nodes keep beyond their tree edges, the closing edge's units
        and the room the later ring nodes will keep (:meth:`_ring_room_needed`)."""
        i, needed = candidates.tree_node, self.budget._room_needed
        if i is None or needed is None:
            return None
        cost = self.budget.cost_
        room = _finite_budget(self.budget.remaining - self.reserve, cost, state.num_nodes)
        earlier = room[:, :i].mul(state.present[:, :i]).sum(1, keepdim=True)  # [B, 1]
        kept = earlier + room[:, i : i + 1] - 2 * cost  # [B, C]
        keeps = (kept >= needed[:, i : i + 1]).unsqueeze(1)  # [B, 1, C]
        _, role, need = self._start
        size = self._size(role, i)
        # Now: j keeps its beyond and a unit of the closing edge, i its beyond.
        now = _finite_budget(need, cost, state.num_nodes) - 2 + 1 + self.beyond[:, i : i + 1]
        ring_needed = torch.full_like(now, math.inf)
        for ring_size, ring_room in self.ring_room.items():
            ring_needed = torch.where(size == ring_size, ring_room[:, i : i + 1], ring_needed)
        opens = kept[:, self.aromatic : self.aromatic + 1] - now >= ring_needed  # [B, K]
        keeps = keeps.expand(-1, role.shape[1], -1).clone()
        keeps[..., self.aromatic] = opens
        return keeps

    def require(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        return None if candidates.bridging else self.closing[:, candidates.pairs]

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        drawn = classes == self.aromatic  # [B, K]
        i = candidates.tree_node
        if i is not None:
            self._open(candidates, drawn, i)
        spent = drawn.to(self.reserve.dtype).neg()
        self.reserve.index_add_(1, candidates.left, spent)
        self.reserve.index_add_(1, candidates.right, spent)

    def _open(self, candidates: Candidates, drawn: Tensor, i: int) -> None:
        """Fix the rings that tree node ``i``'s aromatic edge starts (those not planned)."""
        opens = drawn.any(1) & (self.parent[:, i] < 0)  # [B]
        start = (candidates.left * drawn).sum(1, keepdim=True)  # [B, 1]
        _, role, need = self._start  # of the draw's candidates, from mask
        role = (role * drawn).sum(1, keepdim=True)
        need = (need * drawn).sum(1, keepdim=True)
        size = self._size(role, i).squeeze(1)  # [B]
        ring = torch.cat([start, self.following[:, i]], 1)  # [B, 6]: j, n_1, ..., n_5
        slot = torch.arange(_RING_MAX, device=ring.device)
        member = opens.unsqueeze(1) & (slot < size.unsqueeze(1))  # [B, 6]
        nodes = ring.clamp(min=0)
        added = torch.zeros_like(self.parent).scatter_add_(1, nodes, member.long())
        self.in_ring |= added > 0
        need = torch.cat([need, self.need.gather(1, nodes[:, 1:])], 1)  # [B, 6]
        self.reserve.scatter_add_(1, nodes, torch.where(member, need, 0.0))
        # n_k (k >= 2) bonds n_{k-1}: stored + 1 so that absent entries add 0
        forced = member & (slot >= 2)
        previous = torch.cat([ring[:, :1], ring[:, :-1]], 1)
        parent = torch.zeros_like(self.parent).scatter_add_(
            1, nodes, torch.where(forced, previous + 1, 0)
        )
        self.parent = torch.where(parent > 0, parent - 1, self.parent)
        last = ring.gather(1, (size - 1).clamp(min=0).unsqueeze(1)).squeeze(1).clamp(min=0)
        pair = self.pair_index[start.squeeze(1), last]  # [B]
        closing = torch.zeros_like(self.closing).scatter_(
            1, pair.clamp(max=self.closing.shape[1] - 1).unsqueeze(1), opens.unsqueeze(1)
        )
        self.closing |= closing

    def __repr__(self) -> str:
        return f"AromaticRings(aromatic={self.aromatic}, sizes={self.sizes})"


# ---------------------------------------------------------------------------- ring size


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


class MaxCycle(Rule):
    r"""No edge closes a cycle longer than ``length`` edges (e.g. 7: no ring of 8 or more
    atoms).

    In a round, a pair may get a non-zero class only if its ends are joined by a path of at
    most ``length - 1`` edges in the graph drawn before the round, or one end has no edge yet
    (the pairs of a round share no node, so such an end gets one edge of the round at most).
    Two fragments of several nodes are therefore never bonded in a round; tree and joining
    edges (:attr:`Candidates.bridging`) join two components and close no cycle. Paths only
    shorten as edges are added, so each edge closes cycles of at most ``length`` edges and the
    graph's cycle space has a basis of such cycles: every cycle of a minimum cycle basis (a
    smallest set of smallest rings) is at most that long too. ``length=2`` allows no cycle (a
    forest); ``length >= N`` masks nothing.

    Args:
        length: the longest cycle an edge may close, an int ``>= 2``.
    """

    def __init__(self, length: int) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"max_cycle must be None or an int >= 2, got {length!r}")
        self.length = length

    def init(self, state: EdgeState) -> None:
        n = state.num_nodes
        # A longer cycle needs more than n nodes: the rule is off.
        self.active = self.length < n
        if self.active:
            edges = torch.zeros_like(state.classes, dtype=torch.bool)
            self.step = _one_step(edges, n)  # [B, N, N]: I + A of the graph so far
            self._allowed = None  # computed when a round needs it

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        if not self.active or candidates.bridging:
            return None
        if self._allowed is None:
            self._allowed = _cycle_allowed(self.step, self.length)
        return self._allowed[:, candidates.left, candidates.right].unsqueeze(-1)  # [B, K, 1]

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        if not self.active:
            return
        left, right = candidates.left, candidates.right
        added = (classes > 0).to(self.step.dtype)  # [B, K]
        self.step[:, left, right] = self.step[:, right, left] = self.step[:, left, right] + added
        self._allowed = None

    def __repr__(self) -> str:
        return f"MaxCycle({self.length})"


# ---------------------------------------------------------------------------- the loop


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


@functools.lru_cache(maxsize=64)
def _pairs_by_column(n: int) -> Tensor:
    """Indices, in ``torch.triu_indices(n, n, 1)`` order, of the pairs ``(j, i)``, ``j < i``,
    listed by ``i`` then ``j``: ``[N(N-1)/2]``; the pairs of node ``i`` and its earlier nodes
    are entries ``i(i-1)/2`` to ``i(i+1)/2 - 1``."""
    index = _pair_index(n).view(n, n)
    return torch.cat([index[:i, i] for i in range(1, n)]) if n > 1 else torch.zeros(0).long()


def _connected_labels(edge: Tensor, n: int) -> Tensor:
    """Component label of each node (its smallest reachable index), ``[B, N]``, from the
    ``[B, P]`` bool edges of the pairs; reachability by repeated squaring, log2(N) products."""
    reach = _one_step(edge, n)
    for _ in range(max(n - 1, 1).bit_length()):
        reach = (reach @ reach).clamp_(max=1.0)
    return reach.argmax(-1)  # the first maximum: the smallest index reachable


def _allowed(rules: Sequence[Rule], state: EdgeState, candidates: Candidates, base: Tensor):
    """``base`` (bool ``[B, K, C]``, a fresh tensor) and every rule's mask."""
    for rule in rules:
        mask = rule.mask(state, candidates)
        if mask is not None:
            base &= mask
    return base


def _required(rules: Sequence[Rule], state: EdgeState, candidates: Candidates, base: Tensor):
    """``base`` (bool ``[B, K]``, a fresh tensor) or any rule's :meth:`Rule.require`."""
    for rule in rules:
        need = rule.require(state, candidates)
        if need is not None:
            base |= need
    return base


def _update(rules: Sequence[Rule], state: EdgeState, candidates: Candidates, classes: Tensor):
    """Tell the rules, then ``state``, the classes drawn for candidates not drawn before."""
    for rule in rules:
        rule.update(state, candidates, classes)
    state.classes[:, candidates.pairs] = classes


def _tree_edges(state: EdgeState, rules: Sequence[Rule], draw: Draw) -> tuple[Tensor, Tensor]:
    r"""The spanning tree of ``connect="tree"``, drawn before any other pair.

    Node by node, :math:`i = 1, \dots, N - 1`, one edge :math:`(j, c)` to an earlier node is
    drawn with probability :math:`\propto \exp(\ell_{jic})` over the present :math:`j < i`
    and classes :math:`c \ge 1` the rules allow (and prefer, where any), one ``draw`` over the
    flattened :math:`(j, c)` and an extra option allowed only where nothing is, which keeps
    every row drawable; a node with no such :math:`(j, c)`, or absent, gets none. Returns the
    tree's pair entries ``[B, P, C]`` (class 0 = the weight the draw put on the node's other
    earlier pairs, so a relaxed row sums to 1 and a hard one is one-hot) and the ``[B, P]``
    bool mask of the pairs in the tree.
    """
    pairs, present = state.logits, state.present
    batch, n_pairs, n_classes = pairs.shape
    n, device = state.num_nodes, pairs.device
    column = _pairs_by_column(n).to(device)
    entries, chosen = [], []
    for i in range(1, n):
        ids = column[i * (i - 1) // 2 : i * (i + 1) // 2]  # pairs (j, i), j < i
        earlier = torch.arange(i, device=device)
        candidates = Candidates(earlier, torch.full_like(earlier, i), ids, True, i)
        both = present[:, :i] & present[:, i : i + 1]  # [B, i]
        base = both.unsqueeze(-1).expand(-1, -1, n_classes).clone()
        fits = _allowed(rules, state, candidates, base)[..., 1:]  # [B, i, C-1]
        preferred = [p for p in (rule.prefer(state, candidates) for rule in rules) if p is not None]
        if preferred:
            keeps = fits & functools.reduce(torch.logical_and, preferred)[..., 1:]
            fits = torch.where(keeps.flatten(1).any(1).view(-1, 1, 1), keeps, fits)
        fits = fits.flatten(1)  # [B, i(C-1)]
        allowed = torch.cat([fits, ~fits.any(1, keepdim=True)], 1).unsqueeze(1)  # [B, 1, K+1]
        theta = torch.cat([pairs[:, ids, 1:].flatten(1), pairs.new_zeros(batch, 1)], 1)
        drawn = draw(theta.unsqueeze(1), allowed)[:, 0]  # [B, K+1]
        pick = drawn.detach().argmax(-1)  # [B]
        attached = pick < fits.shape[1]
        j, c = pick // (n_classes - 1), pick % (n_classes - 1) + 1
        edge_of = attached.unsqueeze(-1) & (earlier == j[:, None])  # [B, i]
        _update(rules, state, candidates, torch.where(edge_of, c[:, None], 0))
        edge = drawn[:, :-1].view(batch, i, n_classes - 1)  # [B, i, C-1]
        entries.append(torch.cat([1 - edge.sum(-1, keepdim=True), edge], -1))
        chosen.append(edge_of)
    if not entries:
        return pairs.new_zeros(batch, 0, n_classes), state.classes.new_zeros(batch, 0).bool()
    inverse = torch.empty_like(column)
    inverse[column] = torch.arange(n_pairs, device=device)
    return torch.cat(entries, 1)[:, inverse], torch.cat(chosen, 1)[:, inverse]


def _join_fragments(state: EdgeState, rules: Sequence[Rule]) -> Tensor:
    """Join the fragments of the sampled graph, one edge per step and graph: the highest-logit
    non-zero class the rules allow, among pairs of present nodes in different fragments; until
    one fragment is left or no edge is allowed. Returns the ``[B, P]`` bool mask of the pairs
    joined (their classes are in ``state.classes``)."""
    pairs, present, n = state.logits, state.present, state.num_nodes
    batch, n_pairs, n_classes = pairs.shape
    rows, cols = state.rows, state.cols
    label = _connected_labels(state.classes != 0, n)
    joined = torch.zeros(batch, n_pairs, dtype=torch.bool, device=pairs.device)
    pair_present = present[:, rows] & present[:, cols]
    candidates = Candidates(rows, cols, torch.arange(n_pairs, device=pairs.device), True)
    scores = pairs.detach()
    graphs = torch.arange(batch, device=pairs.device)
    for _ in range(n - 1):
        apart = pair_present & (label[:, rows] != label[:, cols])  # [B, P]
        base = apart.unsqueeze(-1).expand(-1, -1, n_classes).clone()
        allowed = _allowed(rules, state, candidates, base)  # [B, P, C]
        allowed[..., 0] = False
        best, flat = scores.masked_fill(~allowed, -math.inf).flatten(1).max(-1)  # [B]
        todo = best > -math.inf
        if not bool(todo.any()):
            break
        graphs_todo, flat = graphs[todo], flat[todo]
        pair, cls = flat // n_classes, flat % n_classes
        added = torch.zeros_like(state.classes)
        added[graphs_todo, pair] = cls
        for rule in rules:
            rule.update(state, candidates, added)
        state.classes[graphs_todo, pair] = cls
        joined[graphs_todo, pair] = True
        # Merge the fragment of the second end into the first end's.
        old = label[graphs_todo, cols[pair]].unsqueeze(-1)
        new = label[graphs_todo, rows[pair]].unsqueeze(-1)
        label[graphs_todo] = torch.where(label[graphs_todo] == old, new, label[graphs_todo])
    return joined


def _draw_edges(state: EdgeState, rules: Sequence[Rule], draw: Draw) -> Tensor:
    """The one loop where the rules meet: tree (``"tree"``), rounds, joining (``"join"``).

    ``draw(logits [B, K, D], allowed [B, K, D]) -> [B, K, D]`` samples ``K`` independent rows
    (a round of disjoint pairs, or one node's tree edge); the rules are updated with the argmax
    of each draw. Returns ``[B, P, C]``.
    """
    pairs, present = state.logits, state.present
    batch, n_pairs, n_classes = pairs.shape
    rows, cols, device = state.rows, state.cols, pairs.device
    schedule = _round_robin_schedule(state.num_nodes).to(device)  # [rounds, R]
    pair_present = present[:, rows] & present[:, cols]  # [B, P]
    in_tree = None
    if state.connect == "tree" and n_classes > 1:
        tree, in_tree = _tree_edges(state, rules, draw)
        pair_present = pair_present & ~in_tree  # the tree's pairs are drawn already
    ordered = pairs[:, schedule.flatten()].view(batch, *schedule.shape, n_classes)
    draws = []
    for r, ids in enumerate(schedule):
        candidates = Candidates(rows[ids], cols[ids], ids)  # no node twice in a round
        base = pair_present[:, ids].unsqueeze(-1).expand(-1, -1, n_classes).clone()
        allowed = _allowed(rules, state, candidates, base)  # [B, R, C]
        required = _required(rules, state, candidates, torch.zeros_like(base[..., 0]))
        allowed[..., 0] = ~(required & allowed[..., 1:].any(-1))
        drawn = draw(ordered[:, r], allowed)  # [B, R, C]
        _update(rules, state, candidates, drawn.detach().argmax(-1))
        draws.append(drawn)
    inverse = torch.empty_like(schedule.flatten())
    inverse[schedule.flatten()] = torch.arange(n_pairs, device=device)
    sample = torch.cat(draws, 1)[:, inverse] if draws else pairs.new_zeros(batch, 0, n_classes)
    if in_tree is not None:
        sample = torch.where(in_tree.unsqueeze(-1), tree, sample)
    if state.connect == "join" and n_classes > 1 and state.num_nodes > 1:
        joined = _join_fragments(state, rules)
        # The joining edge replaces the drawn value; its gradient stays the drawn entry's
        # straight-through (or chosen estimator's) gradient.
        one_hot = torch.nn.functional.one_hot(state.classes, n_classes).to(sample.dtype)
        sample = sample + torch.where(joined.unsqueeze(-1), one_hot - sample.detach(), 0.0)
    return sample


def _connect_rule(connect: str | bool | None, *, legacy: bool = False) -> str | None:
    """``None``, ``"join"`` or ``"tree"``; with ``legacy`` also ``False`` (None), ``True``
    (:data:`~molgen.choices.CONNECT_DEFAULT`) and the aliases of
    :data:`~molgen.choices.CONNECT_ALIASES`."""
    if connect is None or (legacy and connect is False):
        return None
    if legacy and connect is True:
        return CONNECT_DEFAULT
    if isinstance(connect, str) and connect in CONNECT_RULES:
        return connect
    if legacy and isinstance(connect, str) and connect in CONNECT_ALIASES:
        return CONNECT_ALIASES[connect]
    known = (None, *CONNECT_RULES) + ((False, True, *CONNECT_ALIASES) if legacy else ())
    raise ValueError(f"connect must be one of {known}, got {connect!r}")


def _prepare(
    logits: Tensor, node_mask: Tensor | None, rules: Sequence[Rule], connect: str | None
) -> EdgeState:
    """Validate the arguments, narrow the present nodes under ``"tree"``, initialise the rules."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor")
    pairs, _, n = _upper_pairs(logits, None)
    batch, n_pairs, n_classes = pairs.shape
    if n_classes == 0:
        raise ValueError("logits have no edge classes (C = 0)")
    if node_mask is None:
        present = torch.ones(batch, n, dtype=torch.bool, device=pairs.device)
    elif not isinstance(node_mask, Tensor) or node_mask.dtype != torch.bool:
        raise ValueError("node_mask must be a bool tensor [B, N] (True = node present)")
    elif tuple(node_mask.shape) != (batch, n):
        raise ValueError(f"node_mask must have shape {(batch, n)}, got {tuple(node_mask.shape)}")
    else:
        present = node_mask.to(pairs.device)
    if not all(isinstance(rule, Rule) for rule in rules):
        raise ValueError(f"rules must be Rule objects, got {[type(r).__name__ for r in rules]}")
    rows, cols = torch.triu_indices(n, n, offset=1, device=pairs.device)
    classes = torch.zeros(batch, n_pairs, dtype=torch.long, device=pairs.device)
    state = EdgeState(pairs, n, present, connect, classes, rows, cols)
    if connect == "tree":
        for rule in rules:
            keep = rule.attachable(state)
            if keep is not None:
                state.present = state.present & keep
    for rule in rules:
        rule.init(state)
    return state


def constrained_symmetric_gumbel_softmax(
    logits: Tensor,
    tau: float | Tensor = 1.0,
    *,
    rules: Sequence[Rule] = (),
    connect: str | None = None,
    hard: bool = True,
    estimator: str = "st",
    generator: torch.Generator | None = None,
    node_mask: Tensor | None = None,
    gumbel_rao_samples: int = 8,
) -> Tensor:
    r"""Sample a symmetric edge tensor under ``rules`` (module docstring: the law, ``connect``).

    Args:
        logits: edge-class logits of the pairs :math:`i < j`, ``[B, N(N-1)/2, C]`` in
            ``torch.triu_indices(N, N, 1)`` order, or dense ``[B, N, N, C]`` (symmetrised as
            :math:`(L + L^\top)/2`); class 0 = no edge.
        tau, hard, estimator, gumbel_rao_samples: as in
            :func:`~molgen.nn.functional.gumbel_softmax` (``tau`` a number or 0-dim tensor).
            With ``hard=False`` the rules see the argmax of each relaxed sample (the hard
            sample of the same noise).
        rules: :class:`Rule` objects, e.g. ``(Budget(valence, bond_order), MaxCycle(7))``.
        connect: ``None``, ``"join"`` or ``"tree"``.
        generator: source of randomness: each round (and tree node) draws from a generator
            seeded from it, so with the same state every estimator, with or without grad,
            gives the same sample.
        node_mask: bool ``[B, N]``, True = node present; pairs touching absent nodes are
            class 0.

    Returns:
        ``[B, N, N, C]`` of the dtype of ``logits``, exactly symmetric, class 0 on the
        diagonal.

    Raises:
        ValueError: for logits, ``node_mask`` or rule arguments of the wrong shape or values,
            an unknown ``connect``, and everything :func:`~molgen.nn.functional.gumbel_softmax`
            rejects.
    """
    connect = _connect_rule(connect)
    state = _prepare(logits, node_mask, rules, connect)
    if isinstance(tau, Tensor) and tau.dim() > 0:
        raise ValueError("constrained sampling takes a scalar tau (number or 0-dim tensor)")
    _validate_tau(tau, state.logits)

    # One generator per draw, seeded from `generator`: Gumbel-Rao's extra draws (skipped
    # under no_grad) then cannot shift the next draw's noise, so the sample is the same with
    # or without grad and for every estimator.
    n, device = state.num_nodes, state.logits.device
    draws = max(n, 1) + (n - 1 if connect == "tree" else 0)  # rounds (+ tree edges)
    seeds = torch.randint(2**62, (draws,), generator=generator, device=device).tolist()
    draw_generators = (torch.Generator(device).manual_seed(seed) for seed in seeds)

    def draw(draw_logits: Tensor, allowed: Tensor) -> Tensor:
        return gumbel_softmax(
            draw_logits,
            tau,
            hard=hard,
            estimator=estimator,
            mask=allowed,
            generator=next(draw_generators),
            gumbel_rao_samples=gumbel_rao_samples,
        )

    return _mirror_pairs(_draw_edges(state, rules, draw), n)


def constrained_symmetric_one_hot_argmax(
    logits: Tensor,
    *,
    rules: Sequence[Rule] = (),
    connect: str | None = None,
    node_mask: Tensor | None = None,
) -> Tensor:
    """The deterministic mode of :func:`constrained_symmetric_gumbel_softmax`: the same loop
    and rules, with each draw's argmax in place of a sample (no gradient)."""
    state = _prepare(logits, node_mask, rules, _connect_rule(connect))
    with torch.no_grad():
        sample = _draw_edges(state, rules, lambda x, allowed: one_hot_argmax(x, mask=allowed))
        return _mirror_pairs(sample, state.num_nodes)


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


def site_rules(
    site_budget: Tensor,
    cost: Tensor | Sequence[float],
    site_logits: Tensor,
    forest: bool = True,
    max_cycle: int | None = None,
    **site_draw,
) -> tuple[Rule, ...]:
    """``(SiteBudget(site_budget, cost, site_logits, **site_draw),)``, then ``MaxCycle(2)`` (no
    cycle) with ``forest``, else ``MaxCycle(max_cycle)`` unless it is None."""
    if forest and max_cycle is not None:
        raise ValueError(
            f"forest=True allows no cycle; max_cycle={max_cycle!r} applies with forest=False"
        )
    rules: tuple[Rule, ...] = (SiteBudget(site_budget, cost, site_logits, **site_draw),)
    length = 2 if forest else max_cycle
    return rules if length is None else (*rules, MaxCycle(length))


def site_gumbel_softmax(
    bond_logits: Tensor,
    site_logits: Tensor,
    site_budget: Tensor,
    cost: Tensor | Sequence[float],
    tau: float | Tensor = 1.0,
    hard: bool = True,
    node_mask: Tensor | None = None,
    forest: bool = True,
    *,
    connect: str | None = "tree",
    max_cycle: int | None = None,
    estimator: str = "st",
    generator: torch.Generator | None = None,
    gumbel_rao_samples: int = 8,
) -> tuple[Tensor, Tensor]:
    r"""Sample a fragment graph's edges and the attachment site at each end of each edge:
    :func:`constrained_symmetric_gumbel_softmax` with the rules :class:`SiteBudget` and, with
    ``forest``, :class:`MaxCycle` ``(2)`` (:func:`site_rules`).

    Guarantees, for every sample: each edge uses one site at each end, and every site spends
    at most its budget, :math:`\sum_j \mathrm{cost}_{c_{ij}} [s_{ij} = s] \le b_{is}`; with
    ``forest`` the graph has no cycle. With ``forest`` and ``connect="tree"`` (the defaults),
    for integer budgets and costs with cheapest non-zero cost 1 (bond orders, hydrogen
    counts), the nodes kept form one tree and the others have no edge. Kept are: the first
    present node; then, in node order, each present node that has a site with budget
    :math:`\ge 1` while the kept nodes before it have room for its edge (their total site
    budgets, less 2 per tree edge, :math:`\ge 1`): :func:`tree_attachable` on the total site
    budgets, the nodes without a site left out. In a fragment graph written in the codec's
    node order every node after the first bonds an earlier one, so the tree excludes no such
    graph.

    Args:
        bond_logits: edge-class logits ``[B, N(N-1)/2, C]`` (pairs in
            ``torch.triu_indices(N, N, 1)`` order) or ``[B, N, N, C]``; class 0 = no edge.
        site_logits: ``[B, N(N-1)/2, 2, S]`` (end 0 = the lower node) or ``[B, N, N, S]``
            (``[b, i, j]``: node :math:`i`'s site for the edge to :math:`j`).
        site_budget: ``[B, N, S]``, e.g. :func:`site_budget_of` of the sampled nodes.
        cost: ``[C]``, ``cost[0] == 0``: what an edge spends at the site of each end.
        tau, hard, estimator, gumbel_rao_samples: of the edge and site draws, as in
            :func:`~molgen.nn.functional.gumbel_softmax`.
        node_mask: bool ``[B, N]``, True = node present.
        forest: no edge closes a cycle (fragment graphs: a ring across nodes would be one
            ring system; but a rare ring system written as atoms has its ring across atom
            nodes: ``forest=False`` with ``max_cycle`` allows those).
        connect: ``"tree"`` (default), ``"join"`` or ``None``, as in
            :func:`constrained_symmetric_gumbel_softmax` (a joining edge is the highest-logit
            allowed one; its sites are still drawn).
        max_cycle: with ``forest=False``, the longest cycle an edge may close
            (:class:`MaxCycle`), or None for no limit.
        generator: source of all randomness (edges and sites).

    Returns:
        ``(edges, sites)``: ``edges`` ``[B, N, N, C]`` as
        :func:`constrained_symmetric_gumbel_softmax` returns; ``sites`` ``[B, N, N, S]``,
        ``sites[b, i, j]`` the one-hot site of node :math:`i` used by edge :math:`(i, j)`,
        zero where there is no edge (:attr:`SiteBudget.sites`).
    """
    site_draw = {"hard": hard, "estimator": estimator, "gumbel_rao_samples": gumbel_rao_samples}
    rules = site_rules(
        site_budget, cost, site_logits, forest, max_cycle, tau=tau, generator=generator, **site_draw
    )
    edges = constrained_symmetric_gumbel_softmax(
        bond_logits,
        tau,
        rules=rules,
        connect=connect,
        node_mask=node_mask,
        generator=generator,
        **site_draw,
    )
    return edges, rules[0].sites


def site_one_hot_argmax(
    bond_logits: Tensor,
    site_logits: Tensor,
    site_budget: Tensor,
    cost: Tensor | Sequence[float],
    node_mask: Tensor | None = None,
    forest: bool = True,
    *,
    connect: str | None = "tree",
    max_cycle: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The deterministic mode of :func:`site_gumbel_softmax`: the same loop and rules, each
    edge draw's and each site draw's argmax in place of a sample (no gradient). Returns
    ``(edges [B, N, N, C], sites [B, N, N, S])``."""
    rules = site_rules(site_budget, cost, site_logits, forest, max_cycle, argmax=True)
    edges = constrained_symmetric_one_hot_argmax(
        bond_logits, rules=rules, connect=connect, node_mask=node_mask
    )
    return edges, rules[0].sites
