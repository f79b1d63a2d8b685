"""Timing baseline: the training iteration of the most used PyTorch MolGAN port
(yongqyu/MolGAN-pytorch), rewritten from its published structure for benchmarking only.

What it keeps from the port, because it sets the cost: a two-layer graph convolution that
shares one weight across bond types and stacks the node features N times before an einsum,
MolGAN's gated aggregation and MLP, logits symmetrised as (L + L^T)/2 over all N x N pairs,
`torch.nn.functional.gumbel_softmax(hard=True)` on independent (i, j) and (j, i) noise, the
WGAN-GP critic step with separate penalties on atoms and bonds, and unfused Adam. It leaves
out the port's RDKit reward and value network in the generator step, which only flatters the
port. Not part of molgen; scripts/bench_train.py times it beside molgen in the same run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _GraphConvolution(nn.Module):
    def __init__(self, in_features: int, out_features: list[int]):
        super().__init__()
        self.linear1 = nn.Linear(in_features, out_features[0])
        self.linear2 = nn.Linear(out_features[0], out_features[1])

    def forward(self, x, adj):  # x [B, N, A], adj [B, R-1, N, N]
        n_relations = adj.size(1)
        hidden = torch.stack([self.linear1(x) for _ in range(n_relations)], 1)
        hidden = torch.tanh(torch.einsum("bijk,bikl->bijl", adj, hidden).sum(1) + self.linear1(x))
        out = torch.stack([self.linear2(hidden) for _ in range(n_relations)], 1)
        return torch.tanh(torch.einsum("bijk,bikl->bijl", adj, out).sum(1) + self.linear2(hidden))


class _Discriminator(nn.Module):
    def __init__(self, n_atom_types: int):
        super().__init__()
        self.gcn = _GraphConvolution(n_atom_types, [128, 64])
        self.gate = nn.Linear(64 + n_atom_types, 128)
        self.value = nn.Linear(64 + n_atom_types, 128)
        self.mlp = nn.Sequential(
            nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh(), nn.Linear(64, 1)
        )

    def forward(self, adj, x):  # adj [B, N, N, R], x [B, N, A]
        h = self.gcn(x, adj[..., 1:].permute(0, 3, 1, 2))
        h = torch.cat((h, x), -1)
        h = torch.tanh((torch.sigmoid(self.gate(h)) * torch.tanh(self.value(h))).sum(1))
        return self.mlp(h)


class _Generator(nn.Module):
    def __init__(self, z_dim: int, n: int, a: int, r: int):
        super().__init__()
        self.n, self.a, self.r = n, a, r
        self.mlp = nn.Sequential(
            nn.Linear(z_dim, 128),
            nn.Tanh(),
            nn.Linear(128, 256),
            nn.Tanh(),
            nn.Linear(256, 512),
            nn.Tanh(),
        )
        self.edges = nn.Linear(512, r * n * n)
        self.nodes = nn.Linear(512, n * a)

    def forward(self, z):
        h = self.mlp(z)
        e = self.edges(h).view(-1, self.r, self.n, self.n)
        e = ((e + e.permute(0, 1, 3, 2)) / 2).permute(0, 2, 3, 1)
        return e, self.nodes(h).view(-1, self.n, self.a)


def _gradient_penalty(y, x):
    grad = torch.autograd.grad(y, x, torch.ones_like(y), retain_graph=True, create_graph=True)[0]
    return ((grad.view(grad.size(0), -1).pow(2).sum(1).sqrt() - 1) ** 2).mean()


def make_iteration(n: int, a: int, r: int, z_dim: int = 32):
    """One port iteration (critic step + generator step) as a function of a real batch."""
    generator, critic = _Generator(z_dim, n, a, r), _Discriminator(a)
    opt_g = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.999))

    def sample(z):
        return [
            F.gumbel_softmax(t.contiguous().view(-1, t.size(-1)), hard=True).view(t.size())
            for t in generator(z)
        ]

    def iteration(x, adj):  # one-hot x [B, N, A], adj [B, N, N, R]
        b = x.shape[0]
        z = torch.randn(b, z_dim)
        edges, nodes = sample(z)
        eps = torch.rand(b, 1, 1, 1)
        adj_hat = (eps * adj + (1 - eps) * edges).requires_grad_(True)
        x_hat = (eps.squeeze(-1) * x + (1 - eps.squeeze(-1)) * nodes).requires_grad_(True)
        score_hat = critic(adj_hat, x_hat)
        loss_d = critic(edges, nodes).mean() - critic(adj, x).mean()
        loss_d = loss_d + 10 * (
            _gradient_penalty(score_hat, adj_hat) + _gradient_penalty(score_hat, x_hat)
        )
        opt_g.zero_grad()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        edges, nodes = sample(z)
        loss_g = -critic(edges, nodes).mean()
        opt_g.zero_grad()
        opt_d.zero_grad()
        loss_g.backward()
        opt_g.step()

    return iteration
