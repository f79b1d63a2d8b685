r""":class:`SiteBudget`: each edge bonds one attachment site at each end, within the
sites' budgets (fragment graphs), and its entry points (:func:`site_gumbel_softmax`,
:func:`site_one_hot_argmax`; :func:`site_budget_of` reads the budgets of sampled nodes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from molgen.choices import ESTIMATORS
from molgen.nn.constrained.budget import (
    _check_cost_classes,
    _tree_preferred,
    _tree_room_needed,
    _validated_cost,
    tree_attachable,
)
from molgen.nn.constrained.cycles import MaxCycle
from molgen.nn.constrained.loop import (
    Candidates,
    EdgeState,
    Rule,
    constrained_symmetric_gumbel_softmax,
    constrained_symmetric_one_hot_argmax,
)
from molgen.nn.functional import (
    _check_rows,
    _compute_dtype,
    _log_exponential,
    _num_nodes,
    _pair_index,
    _validate_tau,
    gumbel_softmax,
)


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
