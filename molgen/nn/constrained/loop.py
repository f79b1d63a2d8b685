r"""The one loop of constrained edge sampling and what the rules see.

:class:`EdgeState` and :class:`Candidates` are what a rule reads, :class:`Rule` its hooks;
:func:`_draw_edges` draws the pairs in a round-robin schedule, after the spanning tree of
``connect="tree"`` and before the joining edges of ``connect="join"``;
:func:`constrained_symmetric_gumbel_softmax` and :func:`constrained_symmetric_one_hot_argmax`
are its entry points. The law is in :mod:`molgen.nn.constrained`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from molgen.choices import CONNECT_ALIASES, CONNECT_DEFAULT, CONNECT_RULES
from molgen.nn.functional import (
    _mirror_pairs,
    _pair_index,
    _upper_pairs,
    _validate_tau,
    gumbel_softmax,
    one_hot_argmax,
)

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


def _one_step(edge: Tensor, n: int) -> Tensor:
    """``[B, N, N]`` 0/1: :math:`I + A` of the ``[B, P]`` bool edges of the pairs."""
    rows, cols = torch.triu_indices(n, n, offset=1, device=edge.device)
    step = torch.eye(n, device=edge.device).repeat(edge.shape[0], 1, 1)
    step[:, rows, cols] = step[:, cols, rows] = edge.to(step.dtype)
    return step


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
