r"""Graph-level structure features a message-passing critic cannot compute: cycle counts, aromatic
bond and cycle counts, and per-type valence histograms, from dense (one-hot or relaxed) graphs.

A two-layer relational GCN sees two hops around each node, so it cannot tell a 6-ring from a
chain or count rings. These features are exact on one-hot graphs and smooth polynomials (cycle
counts) or piecewise-linear functions (histograms) of the entries elsewhere, so they can sit in a
critic whose input gradient is penalised (the WGAN gradient penalty's interpolates are not
one-hot) and pass gradients to a generator. Everything is batched matmuls and elementwise
operations (no loops over nodes or graphs, no data-dependent control flow), so it traces under
``torch.compile`` and :func:`torch.func.grad`.

Cycle counts are those of the *expected* graph: for a symmetric weighted adjacency
:math:`A \in [0, 1]^{N \times N}` with zero diagonal,

.. math::
    c_k(A) = \frac{1}{2k} \sum_{\substack{v_0, \dots, v_{k-1} \\ \text{distinct}}}
    \prod_{i=0}^{k-1} A_{v_i v_{i+1 \bmod k}},

the number of :math:`k`-cycles when :math:`A` is binary and, otherwise, the expected number when
each edge :math:`\{i, j\}` is present independently with probability :math:`A_{ij}`. Being
multilinear in the edges, its derivative at a binary graph is the number of :math:`k`-cycles an
edge closes (or opens): the signal a straight-through generator needs. The sum over distinct
vertices is Möbius inversion over the partitions of the cycle's positions, each term a
homomorphism count of a small multigraph, all of them traces and sums of matrix and Hadamard
products (:math:`\circ`; :math:`A^{\circ p}` the elementwise power, :math:`\mathbf{1}` a vector of
ones, :math:`\Sigma` the sum of all entries):

.. math::
    D_p = A^{\circ p} \mathbf{1}, \quad t = \mathrm{diag}(A^3), \quad
    H = A^{\circ 2}, \\
    6 c_3 = \mathrm{tr} A^3, \qquad
    8 c_4 = \mathrm{tr} A^4 - 2 \Sigma D_2^{\circ 2} + \Sigma A^{\circ 4}, \\
    10 c_5 = \mathrm{tr} A^5 - 5 \Sigma (D_2 \circ t) + 5 \Sigma (A^{\circ 3} \circ A^2), \\
    12 c_6 = \mathrm{tr} A^6 - 6 \Sigma (D_2 \circ \mathrm{diag} A^4) - 3 \Sigma t^{\circ 2}
    + 6 \Sigma (A^{\circ 3} \circ A^3) + 3 D_2^\top H D_2 + 9 \Sigma (H \circ (A^2)^{\circ 2}) \\
    \qquad - 4 \mathrm{tr} H^3 + 4 \Sigma D_2^{\circ 3} - 12 \Sigma (D_4 \circ D_2)
    + 4 \Sigma A^{\circ 6}.

On binary graphs, where :math:`A^{\circ p} = A`, they reduce to the classical trace formulas
(Harary and Manvel, 1971, for :math:`k \le 5`; the 6-cycle formula of DiGress, Vignac et al.,
2023). The cost is three batched :math:`N \times N` matmuls and a matrix-vector product per
adjacency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "GraphStructureFeatures",
    "LaplacianSpectrum",
    "cycle_counts",
    "graph_structure_features",
    "laplacian_spectrum",
    "soft_histogram",
]

#: Cycle lengths counted by :func:`cycle_counts`.
CYCLE_LENGTHS = (3, 4, 5, 6)


def _cycle_terms(adj: Tensor) -> Tensor:
    """The sums that the cycle counts combine, :math:`(*, 17)`, in the order of the rows of
    :data:`_CYCLE_COEFFICIENTS`. Each is a sum of row sums, and the row sums are stacked before
    one last sum and one product with the coefficients: fewer operations for eager mode to run
    and differentiate twice (in the gradient penalty) than a scalar formula per count. (Stacking
    the N x N products instead would be fewer operations still, but the double backward of a
    stack fills a zero tensor of the whole stack per slice.)"""
    nodes = adj.shape[-1]
    a = adj * (1 - torch.eye(nodes, dtype=adj.dtype, device=adj.device))
    a2 = a @ a
    a3 = a2 @ a
    h = a * a  # an edge walked twice
    h3 = h * a
    d2 = h.sum(-1)
    # For symmetric matrices these row sums are diag A^3, diag A^4 and D_4.
    t, a4_diag, d4 = (a * a2).sum(-1), (a2 * a2).sum(-1), (h * h).sum(-1)
    rows = [
        t,
        a4_diag,
        d4,
        (a2 * a3).sum(-1),
        (h3 * a2).sum(-1),
        (a3 * a3).sum(-1),
        (h3 * a3).sum(-1),
        (h * a2 * a2).sum(-1),
        ((h @ h) * h).sum(-1),
        (h3 * h3).sum(-1),
        d2 * d2,
        d2 * t,
        d2 * a4_diag,
        t * t,
        d2 * d2 * d2,
        d4 * d2,
        d2 * (h @ d2.unsqueeze(-1)).squeeze(-1),
    ]
    return torch.stack(rows, dim=-1).sum(-2)


#: ``[17, 4]``: the cycle counts :math:`c_3, \dots, c_6` (columns) as combinations of the terms
#: of :func:`_cycle_terms` (rows): the formulas of the module docstring divided by :math:`2k`.
_CYCLE_COEFFICIENTS = torch.tensor(
    [
        # c3, c4, c5, c6
        [1 / 6, 0, 0, 0],  # tr A^3
        [0, 1 / 8, 0, 0],  # tr A^4
        [0, 1 / 8, 0, 0],  # sum of A°4
        [0, 0, 1 / 10, 0],  # tr A^5
        [0, 0, 5 / 10, 0],  # sum of A°3 ° A^2
        [0, 0, 0, 1 / 12],  # tr A^6
        [0, 0, 0, 6 / 12],  # sum of A°3 ° A^3
        [0, 0, 0, 9 / 12],  # sum of H ° (A^2)°2
        [0, 0, 0, -4 / 12],  # tr H^3
        [0, 0, 0, 4 / 12],  # sum of A°6
        [0, -2 / 8, 0, 0],  # sum of D_2°2
        [0, 0, -5 / 10, 0],  # sum of D_2 ° t
        [0, 0, 0, -6 / 12],  # sum of D_2 ° diag A^4
        [0, 0, 0, -3 / 12],  # sum of t°2
        [0, 0, 0, 4 / 12],  # sum of D_2°3
        [0, 0, 0, -12 / 12],  # sum of D_4 ° D_2
        [0, 0, 0, 3 / 12],  # D_2' H D_2
    ],
    dtype=torch.float64,
)


def cycle_counts(adj: Tensor) -> Tensor:
    r"""Expected numbers of 3-, 4-, 5- and 6-cycles of weighted graphs (see the module docstring).

    Exact cycle counts on binary adjacencies, multilinear in the edges otherwise.

    Args:
        adj: symmetric edge weights in [0, 1], :math:`(*, N, N)`; the diagonal is ignored.

    Returns:
        :math:`(*, 4)`: :math:`c_3, c_4, c_5, c_6`.
    """
    if adj.dim() < 2 or adj.shape[-1] != adj.shape[-2]:
        raise ValueError(f"adj must have shape (*, N, N), got {tuple(adj.shape)}")
    return _cycle_terms(adj) @ _CYCLE_COEFFICIENTS.to(adj)


def soft_histogram(values: Tensor, num_bins: int) -> Tensor:
    r"""Histogram weights of ``values`` over the integer bins :math:`0, \dots, K - 1` by linear
    interpolation (a triangular kernel of width 1).

    .. math::
        w_k(v) = \max(0, 1 - |\bar v - k|), \qquad \bar v = \min(\max(v, 0), K - 1)

    An integer value puts weight 1 on its own bin, so on one-hot graphs this is an exact count;
    values beyond the last bin count in it. At an integer value the derivative is the one from
    the right (from the left at :math:`K - 1`): moving :math:`v` up moves weight into the next
    bin, so a straight-through generator gets a gradient where the kernel has a kink.

    Args:
        values: any shape :math:`(*)`.
        num_bins: :math:`K \ge 2`.

    Returns:
        :math:`(*, K)`, each row summing to 1.
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    clamped = values.clamp(0, num_bins - 1)
    # The lower bin is a constant of the input (no gradient through floor); capping it at K - 2
    # makes v = K - 1 the upper end of the last interval.
    lower = clamped.detach().floor().clamp(max=num_bins - 2).unsqueeze(-1)
    above = (clamped.unsqueeze(-1) - lower).clamp(0, 1)
    bins = torch.arange(num_bins, dtype=values.dtype, device=values.device)
    return (bins == lower) * (1 - above) + (bins == lower + 1) * above


def _check_graphs(x: Tensor, adj: Tensor, mask: Tensor, bond_orders: Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must have shape (batch, nodes, types), got {tuple(x.shape)}")
    batch, nodes, _ = x.shape
    if adj.dim() != 4 or adj.shape[:3] != (batch, nodes, nodes):
        raise ValueError(
            f"adj must have shape ({batch}, {nodes}, {nodes}, relations), got {tuple(adj.shape)}"
        )
    if mask.shape != (batch, nodes):
        raise ValueError(f"mask must have shape ({batch}, {nodes}), got {tuple(mask.shape)}")
    if bond_orders.shape != (adj.shape[-1],):
        raise ValueError(
            f"bond_orders must have shape ({adj.shape[-1]},) (one per relation of adj), "
            f"got {tuple(bond_orders.shape)}"
        )


def graph_structure_features(
    x: Tensor,
    adj: Tensor,
    mask: Tensor,
    bond_orders: Tensor,
    *,
    aromatic_channel: int | None = None,
    max_valence: int = 6,
) -> Tensor:
    r"""Cycle counts, circuit rank, aromatic counts and per-type valence histograms of dense
    graphs, each as :math:`\operatorname{asinh}(\text{count})`.

    With node weights :math:`m` (the mask), masked edges
    :math:`\tilde A_{ijr} = m_i m_j A_{ijr}` (:math:`i \ne j`), bond presence
    :math:`P_{ij} = \sum_{r \ge 1} \tilde A_{ijr}` (relation 0 is "no bond") and valences
    :math:`v_i = \sum_{j, r} \tilde A_{ijr} o_r` (:math:`o` = ``bond_orders``), the features are,
    in order:

    - :math:`c_3, \dots, c_6` of :math:`P` (:func:`cycle_counts`);
    - the circuit rank :math:`\tfrac12 \Sigma P - \sum_i m_i + 1` (edges minus atoms plus one:
      the number of independent cycles of a connected graph, which sees rings of any size);
    - with ``aromatic_channel`` :math:`a`: the number of aromatic bonds
      :math:`\tfrac12 \Sigma \tilde A_{::a}` and :math:`c_3, \dots, c_6` of
      :math:`\tilde A_{::a}` (aromatic rings are the 5- and 6-cycles of aromatic bonds);
    - the valence histogram of each node type :math:`t`,
      :math:`h_{tk} = \sum_i m_i X_{it} w_k(v_i)` for :math:`k = 0, \dots,` ``max_valence``
      (:func:`soft_histogram`), flattened type-major.

    :math:`\operatorname{asinh}` keeps small counts near their value and grows like a
    logarithm, so that many fused cycles do not dominate a learned readout; it is smooth and odd,
    so the (possibly negative) circuit rank and the interpolated counts stay differentiable.
    Masked nodes contribute nothing.

    Args:
        x: node-type weights :math:`(B, N, T)` (one-hot or relaxed).
        adj: relation weights :math:`(B, N, N, R)`, relation 0 "no bond", symmetric.
        mask: node weights :math:`(B, N)`, bool or float in [0, 1].
        bond_orders: :math:`(R,)`, what each relation adds to both ends' valence.
        aromatic_channel: the relation of aromatic bonds, or None for no aromatic features.
        max_valence: the last valence bin :math:`K - 1` (larger valences count in it).

    Returns:
        :math:`(B, F)` with :math:`F = 5 + 5 [a \text{ given}] + T (\text{max\_valence} + 1)`.
    """
    _check_graphs(x, adj, mask, bond_orders)
    relations = adj.shape[-1]
    if aromatic_channel is not None and not 1 <= aromatic_channel < relations:
        raise ValueError(
            f"aromatic_channel must be a bond relation in [1, {relations}), got {aromatic_channel}"
        )
    nodes = x.shape[1]
    weight = mask.to(x.dtype)
    pair = weight[:, :, None] * weight[:, None, :]
    pair = pair * (1 - torch.eye(nodes, dtype=x.dtype, device=x.device))
    adj = adj * pair.unsqueeze(-1)
    bonds = adj[..., 1:].sum(-1)
    # Bonds and aromatic bonds share one pass through the cycle counts.
    graphs = (
        bonds if aromatic_channel is None else torch.stack([bonds, adj[..., aromatic_channel]], 1)
    )
    cycles = cycle_counts(graphs).flatten(1)
    edges = graphs.sum((-2, -1)).reshape(len(x), -1) / 2
    features = [cycles[:, :4], (edges[:, 0] - weight.sum(-1) + 1).unsqueeze(-1)]
    if aromatic_channel is not None:
        features += [edges[:, 1:], cycles[:, 4:]]
    valence = (adj * bond_orders.to(adj.dtype)).sum((-2, -1))
    histogram = torch.einsum(
        "bnt,bnk->btk", x * weight.unsqueeze(-1), soft_histogram(valence, max_valence + 1)
    )
    features.append(histogram.flatten(1))
    return torch.asinh(torch.cat(features, dim=-1))


class GraphStructureFeatures(torch.nn.Module):
    r"""Module form of :func:`graph_structure_features` (no parameters): cycle counts, circuit
    rank, optional aromatic counts and per-type valence histograms, as
    :math:`\operatorname{asinh}` of counts, to concatenate to a graph readout.

    Args:
        bond_orders: :math:`(R,)`, the valence each relation spends at both ends (0 for relation
            0, "no bond"); kept as a non-persistent buffer (it is not learned, and state dicts
            stay those of the module without it).
        num_node_types: :math:`T`.
        aromatic_channel: the relation of aromatic bonds, or None.
        max_valence: the last valence bin.

    Shapes:
        - **input:** ``x`` :math:`(B, N, T)`, ``adj`` :math:`(B, N, N, R)`, ``mask``
          :math:`(B, N)`
        - **output:** :math:`(B, \text{out\_channels})`
    """

    def __init__(
        self,
        bond_orders: Sequence[float] | Tensor,
        num_node_types: int,
        *,
        aromatic_channel: int | None = None,
        max_valence: int = 6,
    ):
        super().__init__()
        orders = torch.as_tensor(bond_orders, dtype=torch.get_default_dtype())
        if orders.dim() != 1 or len(orders) < 2:
            raise ValueError(f"bond_orders must be a vector of >= 2 relations, got {bond_orders}")
        if num_node_types < 1:
            raise ValueError(f"num_node_types must be >= 1, got {num_node_types}")
        if aromatic_channel is not None and not 1 <= aromatic_channel < len(orders):
            raise ValueError(
                f"aromatic_channel must be a bond relation in [1, {len(orders)}), "
                f"got {aromatic_channel}"
            )
        if max_valence < 1:
            raise ValueError(f"max_valence must be >= 1, got {max_valence}")
        self.register_buffer("bond_orders", orders, persistent=False)
        self.num_node_types = num_node_types
        self.aromatic_channel = aromatic_channel
        self.max_valence = max_valence
        cycles = len(CYCLE_LENGTHS)
        aromatic = 1 + cycles if aromatic_channel is not None else 0
        self.out_channels = cycles + 1 + aromatic + num_node_types * (max_valence + 1)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.num_node_types:
            raise ValueError(
                f"x must have shape (batch, nodes, {self.num_node_types}), got {tuple(x.shape)}"
            )
        return graph_structure_features(
            x,
            adj,
            mask,
            self.bond_orders,
            aromatic_channel=self.aromatic_channel,
            max_valence=self.max_valence,
        )

    def extra_repr(self) -> str:
        orders = ", ".join(f"{o:g}" for o in self.bond_orders.tolist())
        return (
            f"bond_orders=[{orders}], num_node_types={self.num_node_types}, "
            f"aromatic_channel={self.aromatic_channel}, max_valence={self.max_valence}, "
            f"out_channels={self.out_channels}"
        )


class _EigenvaluesFirstOrder(torch.autograd.Function):
    r"""Ascending eigenvalues of symmetric matrices, with the first-order gradient
    :math:`\partial \lambda_k / \partial L = v_k v_k^\top` and the eigenvectors held constant
    in the gradient's own derivative. ``torch.linalg.eigvalsh``'s second derivative divides by
    the gaps between eigenvalues, infinite for repeated ones (every graph with two components,
    or two padding nodes), which the gradient penalty's double backward would meet."""

    @staticmethod
    def forward(ctx: Any, matrix: Tensor) -> Tensor:
        values, vectors = torch.linalg.eigh(matrix)
        ctx.save_for_backward(vectors)
        return values

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (vectors,) = ctx.saved_tensors
        return (vectors * grad.unsqueeze(-2)) @ vectors.transpose(-1, -2)


def laplacian_spectrum(edges: Tensor, mask: Tensor, k: int, eps: float = 1e-4) -> Tensor:
    r"""The ``k`` smallest eigenvalues of each graph's normalised Laplacian, ascending.

    With node weights :math:`m` (the mask), edge weights :math:`W_{ij} = m_i m_j E_{ij}`
    (:math:`i \ne j`) and degrees :math:`d_i = \sum_j W_{ij}`,

    .. math::
        L = \mathrm{diag}(m) - D^{-1/2} W D^{-1/2} + 2\,\mathrm{diag}(1 - m), \qquad
        D = \mathrm{diag}(d + \epsilon)

    On a binary graph this is the normalised Laplacian of the present nodes (eigenvalues in
    [0, 2], as many zeros as connected components), and every absent node adds an eigenvalue
    2, the top of that range, so the smallest eigenvalues are the present nodes' while ``k``
    is at most their number. An isolated present node gets eigenvalue 1 (networkx's
    normalised Laplacian gives it 0). Smooth in :math:`E` and :math:`m`, so it takes relaxed
    graphs; the gradient is exact to first order (see :class:`_EigenvaluesFirstOrder`).

    Args:
        edges: symmetric edge weights in [0, 1], :math:`(B, N, N)`; the diagonal is ignored.
        mask: node weights :math:`(B, N)`, bool or float in [0, 1].
        k: how many eigenvalues, :math:`1 \le k \le N`.
        eps: added to the degrees, > 0 (bounds :math:`D^{-1/2}` at isolated and absent
            nodes).

    Returns:
        :math:`(B, k)`.
    """
    if edges.dim() != 3 or edges.shape[-1] != edges.shape[-2]:
        raise ValueError(f"edges must have shape (batch, N, N), got {tuple(edges.shape)}")
    batch, nodes, _ = edges.shape
    if mask.shape != (batch, nodes):
        raise ValueError(f"mask must have shape ({batch}, {nodes}), got {tuple(mask.shape)}")
    if not 1 <= k <= nodes:
        raise ValueError(f"k must be in [1, {nodes}], got {k}")
    if not eps > 0:  # a node of degree 0 would scale its (zero) edges by infinity
        raise ValueError(f"eps must be > 0, got {eps}")
    # eigh has no half-precision kernels: the spectrum is computed in float32 at least
    dtype = torch.promote_types(edges.dtype, torch.float32)
    weight = mask.to(dtype)
    off_diagonal = 1 - torch.eye(nodes, dtype=dtype, device=edges.device)
    w = edges.to(dtype) * (weight[:, :, None] * weight[:, None, :]) * off_diagonal
    scale = (w.sum(-1) + eps).rsqrt()  # [B, N]
    laplacian = torch.diag_embed(2 - weight) - scale[:, :, None] * w * scale[:, None, :]
    values = _EigenvaluesFirstOrder.apply(laplacian)  # [B, N]
    return values[:, :k].to(edges.dtype)


class LaplacianSpectrum(torch.nn.Module):
    r"""Module form of :func:`laplacian_spectrum` (no parameters) on dense relational graphs:
    edge weights are the summed relations :math:`r \ge 1` (relation 0 is "no edge").

    Args:
        k: how many of the smallest eigenvalues.

    Shapes:
        - **input:** ``adj`` :math:`(B, N, N, R)`, ``mask`` :math:`(B, N)`
        - **output:** :math:`(B, k)`
    """

    def __init__(self, k: int):
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.out_channels = k

    def forward(self, adj: Tensor, mask: Tensor) -> Tensor:
        if adj.dim() != 4:
            raise ValueError(f"adj must have shape (batch, N, N, relations), got {adj.shape}")
        return laplacian_spectrum(adj[..., 1:].sum(-1), mask, min(self.k, adj.shape[1]))

    def extra_repr(self) -> str:
        return f"k={self.k}"
