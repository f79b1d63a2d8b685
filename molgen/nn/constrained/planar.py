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
    (:math:`\max_{c \ge 1} \ell_c - \ell_0`, ties to the lower index) that is itself allowed:
    of any two meeting pairs of a round at most one can get an edge. Tree and joining edges
    (:attr:`Candidates.bridging`) are one per graph and draw. Every drawn edge therefore meets
    only edges that share one of its ends.

    With positions in general position (no three collinear, as holds almost surely for
    continuous positions), two edges with a common end meet only there, so the segments are a
    plane drawing and the graph is planar. Some segment always joins two pieces of such a
    drawing without meeting it (a triangulation of the points containing the drawn edges
    exists), so ``connect="join"`` connects the graph unless another rule (a degree budget)
    forbids every such edge. Every planar graph has a straight-line plane drawing (Fáry's
    theorem), so for suitable positions the rule excludes none.

    Args:
        positions: ``[B, N, 2]``, each node's point in the plane (a generator's output, say;
            read as given, no gradient).
    """

    def __init__(self, positions: Tensor) -> None:
        if not isinstance(positions, Tensor) or positions.dim() != 3 or positions.shape[-1] != 2:
            shape = tuple(positions.shape) if isinstance(positions, Tensor) else positions
            raise ValueError(f"positions must be a [B, N, 2] tensor, got {shape}")
        self.positions = positions.detach()

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

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        free = ~self.blocked[:, candidates.pairs]  # [B, K]
        if not candidates.bridging and candidates.pairs.numel() > 1:
            free = free & ~self._beaten_in_round(state, candidates, free)
        allowed = free.unsqueeze(-1).expand(-1, -1, state.logits.shape[-1]).clone()
        allowed[..., 0] = True
        return allowed  # [B, K, C]

    def _beaten_in_round(self, state: EdgeState, candidates: Candidates, free: Tensor) -> Tensor:
        """``[B, K]``: the round's pairs whose segment meets a free pair's of the round with a
        higher edge score (the pairs of a round share no node)."""
        side = self.side[:, candidates.pairs]  # [B, K, N]
        # apart[b, k, j]: pair j's ends not strictly on one side of pair k's line
        apart = side[:, :, candidates.left] * side[:, :, candidates.right] <= 0  # [B, K, K]
        meet = apart & apart.transpose(1, 2)
        logits = state.logits[:, candidates.pairs].detach()  # [B, K, C]
        score = logits[..., 1:].max(-1).values - logits[..., 0]  # [B, K]
        index = torch.arange(score.shape[1], device=score.device)
        ahead = (score.unsqueeze(1) > score.unsqueeze(2)) | (  # ahead[b, k, j]: j before k
            (score.unsqueeze(1) == score.unsqueeze(2))
            & (index.view(1, 1, -1) < index.view(1, -1, 1))
        )
        return (meet & ahead & free.unsqueeze(1)).any(-1)

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        graph, k = (classes > 0).nonzero(as_tuple=True)  # the E edges added
        if graph.numel() == 0:
            return
        left, right = candidates.left[k], candidates.right[k]  # [E]
        # the new edge's ends against every pair's line, every pair's ends against its line
        ends_apart = self.side[graph, :, left] * self.side[graph, :, right] <= 0  # [E, P]
        line = self.side[graph, candidates.pairs[k]]  # [E, N]
        pairs_apart = line[:, state.rows] * line[:, state.cols] <= 0  # [E, P]
        shared = self.incident[left] | self.incident[right]  # [E, P]
        hits = torch.zeros(self.blocked.shape, dtype=torch.long, device=line.device)
        hits.index_add_(0, graph, (ends_apart & pairs_apart & ~shared).long())  # [B, P]
        self.blocked |= hits > 0

    def __repr__(self) -> str:
        return f"NonCrossing(positions={tuple(self.positions.shape)})"
