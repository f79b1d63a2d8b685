r""":class:`NonCrossing`: the edges form a straight-line drawing without crossings at given node
positions, so every sample is a planar graph."""

from __future__ import annotations

import torch
from torch import Tensor

from molgen.nn.constrained.loop import Candidates, EdgeState, Rule


def _orientation(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """The sign of the turn ``a -> b -> c`` (``[..., 2]`` points): +1 left, -1 right, 0
    collinear."""
    ab, ac = b - a, c - a
    return torch.sign(ab[..., 0] * ac[..., 1] - ab[..., 1] * ac[..., 0])


def segments_meet(p: Tensor, q: Tensor, r: Tensor, s: Tensor) -> Tensor:
    r"""Whether the closed segments :math:`pq` and :math:`rs` may meet, broadcast over
    ``[..., 2]`` points: each segment's ends are not strictly on one side of the other's line,

    .. math::
        o(p, q, r)\, o(p, q, s) \le 0 \ \wedge\ o(r, s, p)\, o(r, s, q) \le 0

    with :math:`o` the orientation sign. Every pair of segments that meet is True; collinear
    segments that do not meet may be True too (the test errs towards "meet").
    """
    return (_orientation(p, q, r) * _orientation(p, q, s) <= 0) & (
        _orientation(r, s, p) * _orientation(r, s, q) <= 0
    )


class NonCrossing(Rule):
    r"""Each edge is a straight segment between its ends' positions, and no edge meets an edge
    without a common end: the graph comes with a crossing-free drawing, so it is planar.

    A pair :math:`\{i, j\}` may get a non-zero class only if the segment
    :math:`p_i p_j` meets no segment :math:`p_k p_l` of an edge drawn before it with
    :math:`\{k, l\} \cap \{i, j\} = \emptyset` (:func:`segments_meet`, which errs towards
    "meet"). The pairs of a round are decided together, so within a round a pair is also
    masked where its segment meets that of a pair of the round with a higher edge score
    (:math:`\max_{c \ge 1} \ell_c - \ell_0`, ties to the lower pair index) that is itself
    allowed: of any two meeting pairs of a round at most one can get an edge. Tree and
    joining edges (:attr:`Candidates.bridging`) are one per graph and draw. Every drawn edge
    therefore meets only edges that share one of its ends.

    With positions in general position (no three collinear, as holds almost surely for
    continuous positions), two edges with a common end meet only there, so the segments are a
    plane drawing and the graph is planar. Some segment always joins two pieces of such a
    drawing without meeting it (a triangulation of the points containing the drawn edges
    exists), so ``connect="join"`` connects the graph unless another rule (a degree budget)
    forbids every such edge. Every planar graph has a straight-line plane drawing (Fáry's
    theorem), so for suitable positions the rule excludes none.

    The rounds' order decides which of two crossing pairs can still be drawn: a pair drawn
    early blocks every later pair it crosses, however likely. With ``rivals`` :math:`Q`, a
    pair of a round is also masked while one of its graph's :math:`Q` highest-scoring pairs
    that crosses it and scores higher is still open (not yet drawn in a round, not blocked):
    the likely edges are decided before the pairs they cross, nearer to adding the pairs in
    score order whenever they cross nothing added (a pair stays empty where the rival it
    waited for is blocked later). :math:`Q = 3N - 6`, the most edges a planar graph has,
    keeps most of that at a fraction of the cost (measured in ``scripts/bench_layers.py``).

    Args:
        positions: ``[B, N, 2]``, each node's point in the plane (a generator's output, say;
            read as given, no gradient).
        rivals: ``None`` (the rounds' order), or :math:`Q \ge 1`, the highest-scoring pairs
            of each graph that a crossing pair must wait for.
    """

    def __init__(self, positions: Tensor, rivals: int | None = None) -> None:
        if not isinstance(positions, Tensor) or positions.dim() != 3 or positions.shape[-1] != 2:
            shape = tuple(positions.shape) if isinstance(positions, Tensor) else positions
            raise ValueError(f"positions must be a [B, N, 2] tensor, got {shape}")
        is_count = isinstance(rivals, int) and not isinstance(rivals, bool) and rivals >= 1
        if rivals is not None and not is_count:
            raise ValueError(f"rivals must be None or an int >= 1, got {rivals!r}")
        self.positions = positions.detach()
        self.rivals = rivals

    def init(self, state: EdgeState) -> None:
        batch, n_pairs, _ = state.logits.shape
        n = state.num_nodes
        if tuple(self.positions.shape[:2]) != (batch, n):
            raise ValueError(
                f"positions must have shape {(batch, n, 2)}, got {tuple(self.positions.shape)}"
            )
        points = self.positions.to(state.logits.device, state.logits.dtype)
        # side[b, p, v]: o(r, s, x_v) for pair p = (r, s), the one orientation table every
        # test reads (segments_meet's test): p and q are taken to meet where side[p, q's ends]
        # and side[q, p's ends] both differ in sign or vanish.
        self.side = torch.empty(batch, n_pairs, n, dtype=torch.int8, device=points.device)
        chunk = max(1, 2**22 // max(n_pairs * n, 1))  # graphs per step: bounded temporaries
        for first in range(0, batch, chunk):
            part = points[first : first + chunk]  # [b, N, 2]
            start, end = part[:, state.rows].unsqueeze(2), part[:, state.cols].unsqueeze(2)
            self.side[first : first + chunk] = _orientation(start, end, part.unsqueeze(1))
        nodes = torch.arange(n, device=points.device).unsqueeze(1)
        self.incident = (state.rows == nodes) | (state.cols == nodes)  # [N, P]
        # blocked[b, p]: pair p's segment meets an edge of graph b that shares no end with it.
        self.blocked = torch.zeros(batch, n_pairs, dtype=torch.bool, device=points.device)
        # rank[b, p]: pair p's place in its graph's edge-score order (ties: the lower pair
        # index first), the one order the round test and the rivals read.
        logits = state.logits.detach()
        score = logits[..., 1:].max(-1).values - logits[..., 0]  # [B, P]
        order = torch.sort(score, dim=1, descending=True, stable=True).indices
        self.rank = torch.empty_like(order)
        self.rank.scatter_(
            1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
        )
        if self.rivals is not None:
            self._init_rivals(state, order)

    def _init_rivals(self, state: EdgeState, order: Tensor) -> None:
        """The :math:`Q` best pairs of each graph (``order``: ``[B, P]``, best first), their
        ranks, lines and open flags."""
        self.rival_pairs = order[:, : self.rivals]  # [B, Q]
        self.rival_rank = self.rank.gather(1, self.rival_pairs)  # [B, Q]
        self.rival_ends = state.rows[self.rival_pairs], state.cols[self.rival_pairs]  # [B, Q]
        index = self.rival_pairs.unsqueeze(-1).expand(-1, -1, state.num_nodes)
        self.rival_side = self.side.gather(1, index)  # [B, Q, N]
        self.rival_incident = self.incident.T[self.rival_pairs]  # [B, Q, N]: the rivals' ends
        self.open = torch.ones_like(self.rival_pairs, dtype=torch.bool)

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        free = ~self.blocked[:, candidates.pairs]  # [B, K]
        if not candidates.bridging and candidates.pairs.numel() > 1:
            free = free & ~self._beaten_in_round(candidates, free)
        if not candidates.bridging and self.rivals is not None:
            free = free & ~self._waiting(candidates)
        allowed = free.unsqueeze(-1).expand(-1, -1, state.logits.shape[-1]).clone()
        allowed[..., 0] = True
        return allowed  # [B, K, C]

    def _beaten_in_round(self, candidates: Candidates, free: Tensor) -> Tensor:
        """``[B, K]``: the round's pairs whose segment meets a free pair's of the round with a
        better rank (the pairs of a round share no node)."""
        side = self.side[:, candidates.pairs]  # [B, K, N]
        # apart[b, k, j]: pair j's ends not strictly on one side of pair k's line
        apart = side[:, :, candidates.left] * side[:, :, candidates.right] <= 0  # [B, K, K]
        meet = apart & apart.transpose(1, 2)
        rank = self.rank[:, candidates.pairs]  # [B, K]
        ahead = rank.unsqueeze(1) < rank.unsqueeze(2)  # ahead[b, k, j]: j before k
        return (meet & ahead & free.unsqueeze(1)).any(-1)

    def _waiting(self, candidates: Candidates) -> Tensor:
        """``[B, K]``: the candidates crossed by an open rival with a better rank."""
        side = self.side[:, candidates.pairs]  # [B, K, N]
        first, second = (end.unsqueeze(1).expand(-1, side.shape[1], -1) for end in self.rival_ends)
        rival_apart = side.gather(2, first) * side.gather(2, second) <= 0  # [B, K, Q]
        left, right = candidates.left, candidates.right
        apart = self.rival_side[:, :, left] * self.rival_side[:, :, right] <= 0  # [B, Q, K]
        # a rival with a common end crosses nothing of the candidate
        shared = self.rival_incident[:, :, left] | self.rival_incident[:, :, right]  # [B, Q, K]
        better = self.rival_rank.unsqueeze(1) < self.rank[:, candidates.pairs].unsqueeze(-1)
        waiting = rival_apart & (apart & ~shared).transpose(1, 2) & better  # [B, K, Q]
        return (waiting & self.open.unsqueeze(1)).any(-1)

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        graph, k = (classes > 0).nonzero(as_tuple=True)  # the E edges added
        if graph.numel() > 0:
            self._block(state, candidates, graph, k)
        if self.rivals is not None:
            self._close_rivals(candidates, classes)

    def _block(self, state: EdgeState, candidates: Candidates, graph: Tensor, k: Tensor) -> None:
        """Block the pairs that the new edges (candidates ``k`` of graphs ``graph``) cross."""
        left, right = candidates.left[k], candidates.right[k]  # [E]
        # the new edge's ends against every pair's line, every pair's ends against its line
        ends_apart = self.side[graph, :, left] * self.side[graph, :, right] <= 0  # [E, P]
        line = self.side[graph, candidates.pairs[k]]  # [E, N]
        pairs_apart = line[:, state.rows] * line[:, state.cols] <= 0  # [E, P]
        shared = self.incident[left] | self.incident[right]  # [E, P]
        hits = torch.zeros(self.blocked.shape, dtype=torch.long, device=line.device)
        hits.index_add_(0, graph, (ends_apart & pairs_apart & ~shared).long())  # [B, P]
        self.blocked |= hits > 0

    def _close_rivals(self, candidates: Candidates, classes: Tensor) -> None:
        """Rivals drawn in a round, given an edge, or blocked are no longer open."""
        closed = self.blocked.gather(1, self.rival_pairs)
        if candidates.bridging:
            added = torch.zeros_like(self.blocked)
            added[:, candidates.pairs] = classes > 0
            closed |= added.gather(1, self.rival_pairs)
        else:
            closed |= torch.isin(self.rival_pairs, candidates.pairs)
        self.open &= ~closed

    def __repr__(self) -> str:
        rivals = "" if self.rivals is None else f", rivals={self.rivals}"
        return f"NonCrossing(positions={tuple(self.positions.shape)}{rivals})"
