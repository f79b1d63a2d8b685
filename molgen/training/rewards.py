"""RDKit rewards for MolGAN's RL term: a product of per-molecule scores in [0, 1].

Objectives (``reward.objectives``): ``validity`` (1 for a strict-valid molecule), ``qed``,
``logp`` and ``sa`` (MolGAN's normalised Crippen logP and SA scores). Invalid graphs get 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from molgen.chem import Vocabulary, decode_mols
from molgen.chem.properties import logp, normalized_logp, normalized_sa, qed, sa_score

__all__ = ["OBJECTIVES", "molecule_rewards"]

OBJECTIVES = {
    "validity": lambda mol: 1.0,
    "qed": qed,
    "logp": lambda mol: float(normalized_logp(logp(mol))),
    "sa": lambda mol: float(normalized_sa(sa_score(mol))),
}


def molecule_rewards(
    graphs: tuple[torch.Tensor, torch.Tensor], vocab: Vocabulary, objectives: Sequence[str]
) -> torch.Tensor:
    """Rewards ``[B]`` (float32, CPU) of graphs ``(x [B, N, A], adj [B, N, N, R])``."""
    unknown = set(objectives) - OBJECTIVES.keys()
    if unknown:
        raise ValueError(
            f"unknown reward objectives {sorted(unknown)}; choose from {sorted(OBJECTIVES)}"
        )
    x, adj = (t.detach().argmax(-1).cpu() for t in graphs)
    rewards = []
    for checked in decode_mols(x, adj, vocab, strict=True):
        reward = 0.0
        if checked.valid:
            reward = 1.0
            for name in objectives:
                reward *= OBJECTIVES[name](checked.mol)
        rewards.append(reward)
    return torch.tensor(rewards, dtype=torch.float32)
