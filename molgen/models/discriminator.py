r"""MolGAN's critic and reward network: relational GCN -> gated aggregation -> MLP.

How the graph enters (the same for both networks):

- Node mask :math:`m_i = 1 - x_{i0}`, the probability that node :math:`i` is an atom (class 0 is
  padding). On one-hot inputs it equals the hard mask, so padding nodes neither send messages
  nor enter the readout; being a product rather than a boolean mask, it passes gradients to
  ``x[..., 0]``, so the generator learns how many atoms to emit.
- Every channel of ``adj`` is a relation with its own weight, "no bond" (channel 0) included:
  :math:`\sum_j A_{ij0} \Theta_0 x_j` summarises the atoms *not* bonded to :math:`i`. Dropping
  channel 0 (as MolGAN does) would leave the critic blind to it, so the straight-through
  gradient of that channel would be zero; here every entry of ``adj`` between two atoms gets a
  gradient. (The diagonal is class 0 in data and samples alike, so its term acts as a second
  root weight.)
- Each convolution sees ``[h, x]`` (hidden state and node types, as in MolGAN) and is followed
  by tanh and dropout; the readout sees ``[h_last, x]``.
- With ``structure_features`` on, the graph embedding also carries what two rounds of message
  passing cannot count (:class:`molgen.nn.graph_features.GraphStructureFeatures`: cycle counts,
  the circuit rank, valence histograms per atom type, aromatic counts), computed from the same
  relaxed inputs, so they stay differentiable for the gradient penalty and the generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from molgen.config import DiscriminatorConfig
from molgen.models.generator import check_type_counts, glorot_linear, tanh_mlp
from molgen.nn.graph_features import GraphStructureFeatures, LaplacianSpectrum
from molgen.nn.rgcn import DenseRelationalConv, GraphAggregation

__all__ = ["Discriminator", "GraphEncoder", "RewardNetwork"]


class GraphEncoder(nn.Module):
    r"""Dense molecular graph to graph embedding: R-GCN layers then MolGAN's gated aggregation.

    .. math::
        \mathbf{H}^{(l)} = \mathrm{dropout}\big(\tanh \mathrm{RGConv}_l([\mathbf{H}^{(l-1)},
        \mathbf{X}], \tilde{\mathbf{A}})\big), \quad
        \mathbf{h}_G = \mathrm{dropout}\big(\mathrm{GraphAggregation}([\mathbf{H}^{(L)},
        \mathbf{X}], \mathbf{m})\big)

    with :math:`\mathbf{H}^{(0)}` empty, :math:`\mathbf{m} = 1 - \mathbf{X}_{:,0}` and
    :math:`\tilde A_{ijr} = A_{ijr} m_j` (see the module docstring). Padding nodes get hidden
    states too, but nothing reads them: they send no messages and the readout is masked.
    With ``cfg.structure_features``, :math:`\mathbf{h}_G` is followed by the structure features
    of :math:`(\mathbf{X}_{:, 1:}, \mathbf{A}, \mathbf{m})` (not dropped out), and with
    ``cfg.spectral_features`` :math:`k > 0` by the :math:`k` smallest eigenvalues of the
    normalised Laplacian (:class:`molgen.nn.graph_features.LaplacianSpectrum`).

    Args:
        cfg: :class:`molgen.config.DiscriminatorConfig`.
        num_atom_types: :math:`A`, including class 0 ("no atom").
        num_bond_types: :math:`R`, including class 0 ("no bond").
        bond_orders: :math:`(R,)`, the valence each bond class spends (``molgen.chem.bond_orders``
            of the vocabulary); needed with ``cfg.structure_features``, ignored without.
        aromatic_bond: the aromatic bond class, if the vocabulary has one (adds aromatic counts
            to the structure features).
        max_valence: the last bin of the structure features' valence histograms.

    Shapes:
        - **input:** ``x`` :math:`(B, N, A)`, ``adj`` :math:`(B, N, N, R)`, float
        - **output:** :math:`(B, \text{out\_channels})`: ``aggregate_dim``, plus the structure
          features' ``out_channels`` and ``spectral_features`` when they are on
    """

    def __init__(
        self,
        cfg: DiscriminatorConfig,
        num_atom_types: int,
        num_bond_types: int,
        *,
        bond_orders: Sequence[float] | Tensor | None = None,
        aromatic_bond: int | None = None,
        max_valence: int = 6,
    ):
        super().__init__()
        check_type_counts(num_atom_types, num_bond_types)
        self.num_atom_types = num_atom_types
        self.num_bond_types = num_bond_types
        self.dropout = cfg.dropout
        self.convs = nn.ModuleList()
        in_channels = num_atom_types
        for width in cfg.conv_dims:
            self.convs.append(DenseRelationalConv(in_channels, width, num_bond_types, aggr="add"))
            in_channels = width + num_atom_types
        self.aggregation = GraphAggregation(in_channels, cfg.aggregate_dim)
        self.structure = None
        if cfg.structure_features:
            if bond_orders is None:
                raise ValueError(
                    "structure_features needs the bond order of each bond class (bond_orders)"
                )
            if len(bond_orders) != num_bond_types:
                raise ValueError(
                    f"bond_orders must have one order per bond class ({num_bond_types}), "
                    f"got {len(bond_orders)}"
                )
            self.structure = GraphStructureFeatures(
                bond_orders,
                num_atom_types - 1,
                aromatic_channel=aromatic_bond,
                max_valence=max_valence,
            )
        self.spectrum = LaplacianSpectrum(cfg.spectral_features) if cfg.spectral_features else None
        self.out_channels = cfg.aggregate_dim + sum(
            part.out_channels for part in (self.structure, self.spectrum) if part is not None
        )

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        self.aggregation.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.num_atom_types:
            raise ValueError(
                f"x must have shape (batch, nodes, {self.num_atom_types}), got {tuple(x.shape)}"
            )
        batch, nodes, _ = x.shape
        if adj.shape != (batch, nodes, nodes, self.num_bond_types):
            raise ValueError(
                f"adj must have shape {(batch, nodes, nodes, self.num_bond_types)}, "
                f"got {tuple(adj.shape)}"
            )
        mask = 1 - x[..., 0]
        # Masking the sender side of adj once silences padding nodes in every layer.
        adj = adj * mask[:, None, :, None]
        h = x
        for conv in self.convs:
            h = torch.cat([self._dropout(torch.tanh(conv(h, adj))), x], dim=-1)
        h_graph = self._dropout(self.aggregation(h, mask))
        if self.structure is None and self.spectrum is None:
            return h_graph
        parts = [h_graph]
        if self.structure is not None:
            parts.append(self.structure(x[..., 1:], adj, mask))
        if self.spectrum is not None:
            parts.append(self.spectrum(adj, mask))
        return torch.cat(parts, dim=-1)

    def _dropout(self, h: Tensor) -> Tensor:
        # F.dropout with p = 0 still costs a copy per call (and more in the penalty's backward).
        return F.dropout(h, self.dropout, self.training) if self.dropout > 0 else h

    def extra_repr(self) -> str:
        return f"num_atom_types={self.num_atom_types}, num_bond_types={self.num_bond_types}"


class _GraphScorer(nn.Module):
    """Shared body: :class:`GraphEncoder`, then a tanh MLP over ``cfg.mlp_dims`` to one score.

    The MLP reads ``graphs_per_input`` graph embeddings and ``extra_inputs`` more features.
    """

    def __init__(
        self,
        cfg: DiscriminatorConfig,
        num_atom_types: int,
        num_bond_types: int,
        *,
        graphs_per_input: int = 1,
        extra_inputs: int = 0,
        bond_orders: Sequence[float] | Tensor | None = None,
        aromatic_bond: int | None = None,
        max_valence: int = 6,
    ):
        super().__init__()
        self.encoder = GraphEncoder(
            cfg,
            num_atom_types,
            num_bond_types,
            bond_orders=bond_orders,
            aromatic_bond=aromatic_bond,
            max_valence=max_valence,
        )
        head_inputs = graphs_per_input * self.encoder.out_channels + extra_inputs
        mlp = tanh_mlp(head_inputs, cfg.mlp_dims, cfg.dropout)
        self.head = nn.Sequential(
            *mlp, glorot_linear(cfg.mlp_dims[-1] if cfg.mlp_dims else head_inputs, 1)
        )

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for module in self.head:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()


class Discriminator(_GraphScorer):
    r"""WGAN critic on dense graphs, with PacGAN packing and minibatch standard deviation.

    .. math::
        D(G_1, \dots, G_p) = \mathrm{MLP}\big([\mathbf{h}_{G_1}, \dots, \mathbf{h}_{G_p},
        s]\big), \qquad s = \frac{1}{D'} \sum_d \sqrt{\mathrm{Var}_b[\mathbf{u}_{bd}] + 10^{-8}}

    where :math:`\mathbf{h}_G` is the :class:`GraphEncoder` embedding. Packing (Lin et al., 2018,
    "PacGAN"): consecutive groups of ``pack`` graphs are scored jointly, their embeddings
    concatenated before the MLP, so the critic can see a lack of diversity within a group. The
    minibatch standard deviation (Karras et al., 2018) appends :math:`s`, the mean over features
    of the (biased) standard deviation over the batch of the packed embeddings
    :math:`\mathbf{u}`, to every critic input; it is off unless ``minibatch_std=True``. The
    output is a raw score (no sigmoid).

    Args:
        cfg: :class:`molgen.config.DiscriminatorConfig`.
        num_atom_types: :math:`A`, including class 0 ("no atom").
        num_bond_types: :math:`R`, including class 0 ("no bond").
        pack: graphs per critic input; the batch size must be divisible by it.
        minibatch_std: append the minibatch standard deviation feature.
        bond_orders, aromatic_bond, max_valence: as in :class:`GraphEncoder` (for
            ``cfg.structure_features``).

    Shapes:
        - **input:** ``x`` :math:`(B, N, A)`, ``adj`` :math:`(B, N, N, R)`, float
        - **output:** :math:`(B / \text{pack},)`
    """

    def __init__(
        self,
        cfg: DiscriminatorConfig,
        num_atom_types: int,
        num_bond_types: int,
        *,
        pack: int = 1,
        minibatch_std: bool = False,
        bond_orders: Sequence[float] | Tensor | None = None,
        aromatic_bond: int | None = None,
        max_valence: int = 6,
    ):
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        super().__init__(
            cfg,
            num_atom_types,
            num_bond_types,
            graphs_per_input=pack,
            extra_inputs=int(minibatch_std),
            bond_orders=bond_orders,
            aromatic_bond=aromatic_bond,
            max_valence=max_valence,
        )
        self.pack = pack
        self.minibatch_std = minibatch_std

    @property
    def mixes_batch(self) -> bool:
        """True when a score depends on other graphs of the batch than its own pack."""
        return self.minibatch_std

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        batch = x.shape[0]
        if batch % self.pack:
            raise ValueError(f"batch size {batch} is not divisible by pack={self.pack}")
        h = self.encoder(x, adj).reshape(batch // self.pack, -1)
        if self.minibatch_std:
            std = torch.sqrt(h.var(0, correction=0) + 1e-8).mean()
            h = torch.cat([h, std.expand(h.shape[0], 1)], dim=-1)
        return self.head(h).squeeze(-1)

    def extra_repr(self) -> str:
        return f"pack={self.pack}, minibatch_std={self.minibatch_std}"


class RewardNetwork(_GraphScorer):
    r"""MolGAN's reward network :math:`\hat R(G) = \sigma(\mathrm{MLP}(\mathbf{h}_G)) \in (0, 1)`.

    Same architecture as :class:`Discriminator` (without packing) and a sigmoid output; trained
    by regression on RDKit rewards (:func:`molgen.gan.reward_loss`) and used for the RL term of
    :func:`molgen.gan.generator_loss`. ``bond_orders`` and ``aromatic_bond`` are as in
    :class:`GraphEncoder`.

    Shapes:
        - **input:** ``x`` :math:`(B, N, A)`, ``adj`` :math:`(B, N, N, R)`, float
        - **output:** :math:`(B,)`
    """

    def __init__(
        self,
        cfg: DiscriminatorConfig,
        num_atom_types: int,
        num_bond_types: int,
        *,
        bond_orders: Sequence[float] | Tensor | None = None,
        aromatic_bond: int | None = None,
    ):
        super().__init__(
            cfg,
            num_atom_types,
            num_bond_types,
            bond_orders=bond_orders,
            aromatic_bond=aromatic_bond,
        )

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        return torch.sigmoid(self.head(self.encoder(x, adj)).squeeze(-1))

    def extra_repr(self) -> str:
        return "output=sigmoid"
