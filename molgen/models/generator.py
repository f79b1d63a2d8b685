r"""MolGAN's generator: noise -> MLP -> atom and bond logits -> discrete graph samples."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear

from molgen.config import GeneratorConfig
from molgen.nn import GumbelSoftmax, SymmetricGumbelSoftmax

__all__ = ["Generator", "check_type_counts", "glorot_linear", "tanh_mlp"]


def glorot_linear(in_channels: int, out_channels: int) -> Linear:
    """PyG ``Linear`` with Glorot weights and zero bias, the initialisation of MolGAN's layers."""
    return Linear(in_channels, out_channels, weight_initializer="glorot", bias_initializer="zeros")


def tanh_mlp(in_channels: int, hidden: list[int], dropout: float = 0.0) -> nn.Sequential:
    """MolGAN's ``multi_dense_layers``: ``Linear -> tanh (-> dropout)`` per width in ``hidden``.

    Shapes: ``[..., in_channels] -> [..., hidden[-1]]`` (``in_channels`` when ``hidden`` is empty).
    """
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [glorot_linear(in_channels, width), nn.Tanh()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_channels = width
    return nn.Sequential(*layers)


def check_type_counts(num_atom_types: int, num_bond_types: int) -> None:
    """Both vocabularies need class 0 ("no atom" / "no bond") plus at least one real type."""
    for name, value in (("num_atom_types", num_atom_types), ("num_bond_types", num_bond_types)):
        if value < 2:
            raise ValueError(f"{name} must be >= 2 (class 0 plus at least one type), got {value}")


class Generator(nn.Module):
    r"""MLP generator of dense molecular graphs (De Cao & Kipf, 2018).

    .. math::
        \mathbf{h} = \mathrm{MLP}(\mathbf{z}), \quad
        \mathbf{X} = \mathrm{GS}(\mathbf{W}_X \mathbf{h}, \tau), \quad
        \mathbf{A} = \mathrm{SymGS}(\mathbf{L}_A(\mathbf{h}), \tau, \text{mask} = [\mathbf{X}
        \text{ not padding}])

    The MLP has tanh activations (and dropout when configured). Atom logits are a linear head
    reshaped to ``[B, N, A]``. Bond logits are produced only for the :math:`N(N-1)/2` unordered
    pairs :math:`i < j` and mirrored, so they are exactly symmetric (MolGAN's
    :math:`(L + L^\top)/2` spans the same functions with twice the outputs); their diagonal is 0
    and unused, since the symmetric sampler forces it to class 0 ("no bond"). Samples come from
    :class:`molgen.nn.GumbelSoftmax` (atoms) and :class:`molgen.nn.SymmetricGumbelSoftmax`
    (bonds), hard straight-through one-hot by default (``cfg.hard``, ``cfg.estimator``); pairs
    touching a sampled padding atom (class 0) get "no bond", like the data. In ``eval()`` mode
    the samples stay random (GAN sampling) unless ``cfg.eval_mode="argmax"``, which makes them the
    per-entry modes (atoms first, then bonds among the chosen atoms).

    Args:
        cfg: :class:`molgen.config.GeneratorConfig` (z_dim, hidden, dropout, hard, estimator,
            gumbel_rao_samples, eval_mode: the Gumbel modules' behaviour in ``eval()``).
        num_nodes: :math:`N`, maximum atoms per molecule.
        num_atom_types: :math:`A`, atom classes including class 0 ("no atom").
        num_bond_types: :math:`R`, bond classes including class 0 ("no bond").

    Shapes:
        - **z:** :math:`(B, z_{dim})`
        - **output:** atoms :math:`(B, N, A)`, bonds :math:`(B, N, N, R)`, one-hot when hard
    """

    def __init__(
        self,
        cfg: GeneratorConfig,
        num_nodes: int,
        num_atom_types: int,
        num_bond_types: int,
    ):
        super().__init__()
        if num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
        check_type_counts(num_atom_types, num_bond_types)
        self.z_dim = cfg.z_dim
        self.num_nodes = num_nodes
        self.num_atom_types = num_atom_types
        self.num_bond_types = num_bond_types
        self.mlp = tanh_mlp(cfg.z_dim, cfg.hidden, cfg.dropout)
        num_pairs = num_nodes * (num_nodes - 1) // 2
        self.atom_head = glorot_linear(cfg.hidden[-1], num_nodes * num_atom_types)
        self.bond_head = glorot_linear(cfg.hidden[-1], num_pairs * num_bond_types)
        # pair_index[i * N + j] = index of the unordered pair {i, j}; the diagonal points at an
        # extra all-zero row appended after the num_pairs predicted rows.
        rows, cols = torch.triu_indices(num_nodes, num_nodes, offset=1)
        pair_index = torch.full((num_nodes, num_nodes), num_pairs, dtype=torch.long)
        pair_index[rows, cols] = torch.arange(num_pairs)
        pair_index[cols, rows] = torch.arange(num_pairs)
        self.register_buffer("pair_index", pair_index.flatten(), persistent=False)
        sampler_args = dict(
            hard=cfg.hard,
            estimator=cfg.estimator,
            gumbel_rao_samples=cfg.gumbel_rao_samples,
            eval_mode=cfg.eval_mode,
        )
        self.atom_sampler = GumbelSoftmax(**sampler_args)
        self.bond_sampler = SymmetricGumbelSoftmax(**sampler_args)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, Linear):
                module.reset_parameters()

    def sample_noise(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Standard normal noise ``z: [batch_size, z_dim]`` (on the model's device by default)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        weight = self.atom_head.weight
        device = weight.device if device is None else device
        return torch.randn(
            batch_size, self.z_dim, generator=generator, device=device, dtype=weight.dtype
        )

    def logits(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Atom logits ``[B, N, A]`` and exactly symmetric bond logits ``[B, N, N, R]``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        batch, n = z.shape[0], self.num_nodes
        h = self.mlp(z)
        atom_logits = self.atom_head(h).view(batch, n, self.num_atom_types)
        pair_logits = self.bond_head(h).view(batch, -1, self.num_bond_types)
        pair_logits = torch.cat(
            [pair_logits, pair_logits.new_zeros(batch, 1, self.num_bond_types)], 1
        )
        bond_logits = pair_logits.index_select(1, self.pair_index).view(batch, n, n, -1)
        return atom_logits, bond_logits

    def sample_from_logits(
        self,
        atom_logits: Tensor,
        bond_logits: Tensor,
        tau: float | Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Sample atoms, then bonds with pairs touching padding atoms set to "no bond".

        Split from :meth:`forward` so callers that also need the logits (e.g. the diversity term
        on probabilities) run the MLP once.
        """
        x = self.atom_sampler(atom_logits, tau, generator=generator)
        node_mask = x.argmax(-1) != 0
        adj = self.bond_sampler(bond_logits, tau, node_mask=node_mask, generator=generator)
        return x, adj

    def forward(
        self,
        z: Tensor,
        tau: float | Tensor,
        generator: torch.Generator | None = None,
        *,
        return_logits: bool = False,
    ) -> tuple[Tensor, Tensor] | tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
        """Graphs ``(x [B, N, A], adj [B, N, N, R])`` for noise ``z [B, z_dim]`` at temperature tau.

        With ``return_logits=True``: ``((x, adj), atom_logits, bond_logits)``, so callers that
        also need the logits (e.g. the diversity term on probabilities) go through ``forward``,
        which DistributedDataParallel requires.
        """
        atom_logits, bond_logits = self.logits(z)
        graph = self.sample_from_logits(atom_logits, bond_logits, tau, generator=generator)
        return (graph, atom_logits, bond_logits) if return_logits else graph

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, num_nodes={self.num_nodes}, "
            f"num_atom_types={self.num_atom_types}, num_bond_types={self.num_bond_types}"
        )
