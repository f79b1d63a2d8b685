r"""Dense relational graph layers for small graphs given as one-hot (or relaxed) tensors.

Generators emit graphs as dense tensors: node types ``x: [B, N, F]`` and edge types
``adj: [B, N, N, R]``, one channel per relation. Both layers here work on that layout directly,
batched over graphs and relations (matmuls only, no loop over nodes, graphs or relations), and are
differentiable in every entry of ``x`` and ``adj``, so straight-through Gumbel-Softmax samples pass
gradients to the generator.

Node masks may be boolean or float: a float mask (e.g. ``1 - x[..., 0]``, the probability that a
node is not padding) is multiplied in, so it stays differentiable; with one-hot ``x`` it equals the
boolean mask exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot, zeros

__all__ = ["DenseRelationalConv", "GraphAggregation"]


def _mask_weights(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """``mask [B, N]`` (bool or float) as float weights ``[B, N, 1]`` in x's dtype."""
    if mask is None:
        return None
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"mask must have shape {tuple(x.shape[:2])} (batch, nodes), got {tuple(mask.shape)}"
        )
    return mask.to(x.dtype).unsqueeze(-1)


class DenseRelationalConv(torch.nn.Module):
    r"""Relational graph convolution (Schlichtkrull et al., 2018) on dense adjacency tensors.

    .. math::
        \mathbf{x}^{\prime}_i = m_i \Big( \mathbf{\Theta}_{\textrm{root}}^\top m_i \mathbf{x}_i
        + \sum_{r=1}^{R} \sum_{j=1}^{N} \frac{A_{ijr}}{c_{ir}} \mathbf{\Theta}_r^\top m_j
        \mathbf{x}_j + \mathbf{b} \Big)

    with a separate weight :math:`\mathbf{\Theta}_r` per relation, node weights :math:`m`
    (the mask; 1 when none is given), and :math:`c_{ir} = 1` for ``aggr="add"`` or
    :math:`c_{ir} = \max(1, \sum_j A_{ijr} m_j)` for ``aggr="mean"`` (the per-relation mean of
    PyG's :class:`~torch_geometric.nn.conv.RGCNConv`, which this layer equals on one-hot
    adjacencies; the parameters ``weight``, ``root`` and ``bias`` have RGCNConv's names and
    shapes). Every relation channel of ``adj`` is used; callers choose what the channels mean
    (the MolGAN discriminator passes "no bond" as a relation of its own).

    Node :math:`i` receives from :math:`j` with weight :math:`A_{ijr}` (``out = A @ X`` per
    relation, as in PyG's dense layers; PyG's sparse ``edge_index`` lists :math:`(j, i)`).

    Cost per call: :math:`B N (R + 1) F O` multiply-adds for the transforms (two matmuls) plus a
    batched :math:`[N, N R]` aggregation per graph, applied to whichever side is narrower: the
    inputs (:math:`N^2 R F`, aggregate then transform) when :math:`F < O`, else the messages
    (:math:`N^2 R O`, transform then aggregate).

    Args:
        in_channels: node feature size :math:`F`.
        out_channels: output size :math:`O`.
        num_relations: number of relation channels :math:`R` in ``adj``.
        root_weight: add the transformed node itself (:math:`\mathbf{\Theta}_{\textrm{root}}`).
        bias: learn an additive bias.
        aggr: ``"add"`` (MolGAN) or ``"mean"`` (per-relation mean).

    Shapes:
        - **input:** node features :math:`(B, N, F)`, adjacency :math:`(B, N, N, R)` (float,
          one-hot or relaxed), optional mask :math:`(B, N)` (bool or float in [0, 1])
        - **output:** :math:`(B, N, O)`; rows of masked nodes are zero
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_relations: int,
        *,
        root_weight: bool = True,
        bias: bool = True,
        aggr: str = "add",
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("num_relations", num_relations),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if aggr not in ("add", "mean"):
            raise ValueError(f"aggr must be 'add' or 'mean', got {aggr!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.aggr = aggr
        self.weight = Parameter(torch.empty(num_relations, in_channels, out_channels))
        self.root = Parameter(torch.empty(in_channels, out_channels)) if root_weight else None
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot weights and zero bias, as in RGCNConv."""
        glorot(self.weight)
        glorot(self.root)
        zeros(self.bias)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        """Convolve ``x [B, N, F]`` over ``adj [B, N, N, R]``; see the class docstring."""
        batch, nodes, _ = x.shape
        if adj.shape != (batch, nodes, nodes, self.num_relations):
            raise ValueError(
                f"adj must have shape {(batch, nodes, nodes, self.num_relations)} "
                f"(batch, nodes, nodes, num_relations), got {tuple(adj.shape)}"
            )
        weights = _mask_weights(mask, x)
        if weights is not None:
            x = x * weights
        if self.aggr == "mean":
            degree = (
                adj.sum(2)
                if weights is None
                else torch.einsum("bijr,bj->bir", adj, weights.squeeze(-1))
            )
            adj = adj / degree.clamp(min=1).unsqueeze(2)
        if self.in_channels < self.out_channels:
            out = self._aggregate_then_transform(x, adj)
        else:
            out = self._transform_then_aggregate(x, adj)
        if weights is not None:
            out = out * weights
        return out

    def _own_term(self, x_flat: Tensor) -> Tensor | None:
        """Root transform plus bias, ``[B N, O]`` (None when the layer has neither)."""
        if self.root is not None:
            if self.bias is None:
                return x_flat @ self.root
            return torch.addmm(self.bias, x_flat, self.root)
        if self.bias is not None:
            return self.bias.expand(x_flat.shape[0], -1)
        return None

    def _aggregate_then_transform(self, x: Tensor, adj: Tensor) -> Tensor:
        # Sum neighbours per relation ([N R, N] @ [N, F] per graph), then one matmul with the
        # stacked [W_1; ...; W_R]: the aggregation costs N^2 R F instead of N^2 R O.
        batch, nodes, _ = x.shape
        per_relation = adj.transpose(2, 3).reshape(batch, nodes * self.num_relations, nodes) @ x
        per_relation = per_relation.view(batch * nodes, -1)
        weight = self.weight.view(-1, self.out_channels)
        own = self._own_term(x.reshape(batch * nodes, -1))
        out = per_relation @ weight if own is None else torch.addmm(own, per_relation, weight)
        return out.view(batch, nodes, -1)

    def _transform_then_aggregate(self, x: Tensor, adj: Tensor) -> Tensor:
        # x @ [W_1 | ... | W_R] lays the messages out as (j, r), matching adj's contiguous (j, r)
        # layout, so the sum over j and r is one batched matmul added onto root + bias.
        batch, nodes, _ = x.shape
        x_flat = x.reshape(batch * nodes, -1)
        relation_weight = self.weight.transpose(0, 1).reshape(self.in_channels, -1)
        messages = (x_flat @ relation_weight).view(batch, nodes * self.num_relations, -1)
        neighbours = adj.reshape(batch, nodes, -1)
        own = self._own_term(x_flat)
        if own is None:
            return neighbours @ messages
        return torch.baddbmm(own.view(batch, nodes, -1), neighbours, messages)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, num_relations={self.num_relations}, "
            f"root_weight={self.root is not None}, bias={self.bias is not None}, aggr={self.aggr!r}"
        )


class GraphAggregation(torch.nn.Module):
    r"""MolGAN's gated graph-level readout (De Cao & Kipf, 2018; Li et al., 2016).

    .. math::
        \mathbf{h}_G = \tanh\Big( \sum_{i=1}^{N} m_i \,
        \sigma\big(\mathbf{W}_i \mathbf{x}_i + \mathbf{b}_i\big) \odot
        \tanh\big(\mathbf{W}_j \mathbf{x}_i + \mathbf{b}_j\big) \Big)

    where :math:`\mathbf{x}_i` is node :math:`i`'s input (MolGAN concatenates the last hidden
    state with the node's one-hot type) and :math:`m_i` the mask (1 when none is given). The gate
    and the value share one ``Linear(in_channels, 2 * out_channels)``.

    Args:
        in_channels: node input size :math:`F`.
        out_channels: graph embedding size :math:`D`.

    Shapes:
        - **input:** node features :math:`(B, N, F)`, optional mask :math:`(B, N)` (bool or float)
        - **output:** :math:`(B, D)`, in :math:`(-1, 1)`
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin = Linear(
            in_channels, 2 * out_channels, weight_initializer="glorot", bias_initializer="zeros"
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Read out ``x [B, N, F]`` into graph embeddings ``[B, D]``."""
        gate, value = self.lin(x).chunk(2, dim=-1)
        nodes = torch.sigmoid(gate) * torch.tanh(value)
        weights = _mask_weights(mask, x)
        if weights is not None:
            nodes = nodes * weights
        return torch.tanh(nodes.sum(1))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
