"""Datasets of fragment graphs (``data.representation: fragments``): ring systems as nodes.

:func:`load_fragment_dataset` loads the atom dataset of the same settings (its cache, filters
and split), mines the ring systems of the **training split only**
(:func:`~molgen.chem.fragments.mine_ring_systems`), keeps the K most frequent
(``data.fragments.max_ring_systems``, or as few as cover ``data.fragments.coverage`` of the
training molecules), and encodes every split as fragment graphs
(:func:`~molgen.chem.fragments.fragment_graphs`). The training split keeps the molecules the
vocabulary covers entirely: a rare ring system would be written as its atoms, a cycle among
atom nodes, which the tree sampler never draws. Validation and test keep every molecule that
encodes (their rare ring systems as atoms), so they stay the atom runs' references. Molecules
with more than ``data.max_nodes`` nodes (null: the largest covered training graph), their rare
ring systems counted as atoms, are dropped from every split. The tensors are cached
like the atom tensors (:mod:`molgen.data.cache`), keyed by the atom entry and these settings;
:func:`fragment_report` says what was kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from molgen.chem.fragments import (
    FragmentGraph,
    FragmentVocabulary,
    fragment_graphs,
    fragment_graphs_to_arrays,
    mine_ring_systems,
)
from molgen.data import cache
from molgen.data.dataset import PARALLEL_FROM, GraphSplit, MolDataset, load_dataset
from molgen.errors import InputError

if TYPE_CHECKING:
    from molgen.config import DataConfig

__all__ = [
    "FragmentSplit",
    "fragment_batch",
    "fragment_report",
    "load_fragment_dataset",
    "load_molecule_dataset",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: The coverage the vocabulary is chosen for when neither K nor a coverage is configured.
DEFAULT_COVERAGE = 0.95
#: Fields of a fragment cache entry (besides the atom entry's SMILES, tensors and report).
_ENTRY_FIELDS = {
    "key": str,
    "smiles": list,
    "x": torch.Tensor,
    "adj": torch.Tensor,
    "sites": torch.Tensor,
    "sizes": dict,
    "report": dict,
    "vocab": dict,
    "checksum": str,
}
_TENSORS = ("x", "adj", "sites")


class FragmentSplit(GraphSplit):
    """One split of fragment graphs: canonical ``smiles``, node classes ``x: int16 [M, N]``
    (MOSES's vocabulary has hundreds), bond classes ``adj: uint8 [M, N, N]`` and sites
    ``sites: uint8 [M, N, N]``
    (:mod:`molgen.chem.fragments`). ``split[i]`` is ``(x, adj, sites)`` as int64."""

    def __init__(
        self, smiles: list[str], x: torch.Tensor, adj: torch.Tensor, sites: torch.Tensor
    ) -> None:
        super().__init__(smiles, x, adj)
        if sites.shape != adj.shape:
            raise ValueError(f"sites {tuple(sites.shape)} and adj {tuple(adj.shape)} differ")
        self.sites = sites

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[i].long(), self.adj[i].long(), self.sites[i].long()

    def __repr__(self) -> str:
        return f"FragmentSplit({len(self)} molecules, N={self.x.shape[1]})"


def fragment_batch(
    split: FragmentSplit, idx: torch.Tensor, vocab: FragmentVocabulary, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The graphs ``idx`` of ``split`` one-hot, as the critic reads them: nodes ``[B, N, T]``,
    bonds ``[B, N, N, R]``, sites ``[B, N, N, S]`` (zero where there is no edge, as the
    generator's)."""
    x = F.one_hot(split.x[idx].to(device).long(), vocab.num_node_types).float()
    bonds = split.adj[idx].to(device).long()
    adj = F.one_hot(bonds, vocab.num_bond_types).float()
    sites = F.one_hot(split.sites[idx].to(device).long(), vocab.max_sites).float()
    return x, adj, sites * (bonds != 0).unsqueeze(-1)


def load_molecule_dataset(cfg: DataConfig, n_jobs: int | None = None) -> MolDataset:
    """The dataset of ``cfg`` in its ``representation``: atom graphs
    (:func:`~molgen.data.load_dataset`) or fragment graphs (:func:`load_fragment_dataset`)."""
    if cfg.representation == "fragments":
        return load_fragment_dataset(cfg, n_jobs)
    return load_dataset(cfg, n_jobs)


def load_fragment_dataset(cfg: DataConfig, n_jobs: int | None = None) -> MolDataset:
    """The dataset of ``cfg`` (``representation: fragments``) as fragment graphs (module
    docstring); ``info["fragments"]`` holds :func:`fragment_report`'s figures."""
    atoms = load_dataset(cfg, n_jobs)
    settings = {
        "atoms": atoms.info["source_key"],
        "split": [cfg.split_seed, cfg.val_fraction, cfg.test_fraction],
        "fragments": cfg.fragments.model_dump(),
        "max_nodes": cfg.max_nodes,
    }
    key = cache.cache_key([], settings)
    path = Path(cfg.cache_dir) / f"{Path(atoms.info['source']).stem}-fragments-{key[:20]}.pt"
    entry = cache.load_entry(path, key, _ENTRY_FIELDS, _TENSORS)
    status = "hit"
    if entry is None:
        entry = _build(cfg, atoms, key, n_jobs)
        cache.save_entry(path, entry)
        status = "built"
    vocab = FragmentVocabulary.from_dict(entry["vocab"])
    splits, start = [], 0
    for name in SPLITS:
        stop = start + entry["sizes"][name]
        part = slice(start, stop)
        splits.append(
            FragmentSplit(
                entry["smiles"][part], entry["x"][part], entry["adj"][part], entry["sites"][part]
            )
        )
        start = stop
    # How N was chosen is a setting, not cached content: cache entries built before it was
    # reported stay valid.
    stats = {**entry["report"], "max_nodes_set": cfg.max_nodes is not None}
    dropped = any(stats[name]["kept"] < stats[name]["molecules"] for name in SPLITS)
    # Said like the atom load's skips: as a warning when molecules were left out.
    (log.warning if dropped else log.info)("%s", fragment_report(stats))
    info = {
        **atoms.info,
        "representation": "fragments",
        "fragments_cache": status,
        "fragments_cache_file": str(path),
        "vocab": vocab.to_dict(),
        "atom_vocab": atoms.vocab.to_dict(),
        "sizes": {name: len(split) for name, split in zip(SPLITS, splits, strict=True)},
        "fragments": stats,
    }
    return MolDataset(vocab, *splits, report=atoms.report, info=info)


def _build(cfg: DataConfig, atoms: MolDataset, key: str, n_jobs: int | None) -> dict[str, Any]:
    train = atoms.train.smiles
    if n_jobs is None:
        n_jobs = -1 if len(train) >= PARALLEL_FROM else 1
    mined = mine_ring_systems(train, n_jobs)
    if cfg.fragments.max_ring_systems is not None:
        k = cfg.fragments.max_ring_systems
    else:
        k = mined.k_for_coverage(cfg.fragments.coverage or DEFAULT_COVERAGE)
    ring_systems = mined.top(k)
    covered = mined.covered(ring_systems)
    if not covered.any():
        raise InputError(
            f"no training molecule is covered by the {k} most frequent ring systems: raise "
            "data.fragments.max_ring_systems or data.fragments.coverage"
        )
    max_nodes = cfg.max_nodes or int(mined.node_counts(ring_systems)[covered].max())
    if len(ring_systems) + len(atoms.vocab.atom_types) >= np.iinfo(np.int16).max:
        raise InputError(
            f"data.fragments: {len(ring_systems)} ring systems are more node classes than a "
            "fragment dataset stores (int16): lower max_ring_systems or coverage"
        )
    vocab = FragmentVocabulary(
        atoms.vocab.atom_types, ring_systems, atoms.vocab.bond_types, max_nodes
    )
    stats: dict[str, Any] = {
        "ring_systems": len(ring_systems),
        "ring_systems_seen": len(mined.ranked),
        "max_nodes": max_nodes,
        "max_sites": vocab.max_sites,
        "max_atoms": int(atoms.train.x.shape[1]),
    }
    smiles: list[str] = []
    arrays: list[tuple[np.ndarray, ...]] = []
    sizes = {}
    for name in SPLITS:
        split_smiles = getattr(atoms, name).smiles
        graphs = fragment_graphs(split_smiles, vocab, n_jobs)
        kept, counts = _keep(graphs, rare_allowed=name != "train")
        stats[name] = {"molecules": len(graphs), **counts}
        smiles += [split_smiles[i] for i in kept]
        nodes, adj, sites = fragment_graphs_to_arrays([graphs[i] for i in kept], max_nodes)
        arrays.append((nodes.astype(np.int16), adj.astype(np.uint8), sites.astype(np.uint8)))
        sizes[name] = len(kept)
        if name == "train" and not kept:
            raise InputError(f"no training molecule encodes as a fragment graph: {counts}")
    x, adj, sites = (torch.from_numpy(np.concatenate(parts)) for parts in zip(*arrays, strict=True))
    return {
        "key": key,
        "smiles": smiles,
        "x": x,
        "adj": adj,
        "sites": sites,
        "sizes": sizes,
        "report": stats,
        "vocab": vocab.to_dict(),
        "checksum": cache.content_checksum(smiles, (x, adj, sites)),
    }


def _keep(graphs: list[FragmentGraph | str], rare_allowed: bool) -> tuple[list[int], dict]:
    """The indices of the graphs a split keeps, and the counts: ``covered`` (every ring system
    in the vocabulary), ``rare`` (some written as atoms), ``too_large`` (over ``max_nodes`` or
    otherwise not encodable), ``kept``, and ``mean_nodes`` of those kept."""
    kept, covered, rare, too_large, nodes = [], 0, 0, 0, 0
    for i, graph in enumerate(graphs):
        if isinstance(graph, str):
            too_large += 1
            continue
        if graph.expanded:
            rare += 1
            if not rare_allowed:
                continue
        else:
            covered += 1
        kept.append(i)
        nodes += len(graph.nodes)
    return kept, {
        "covered": covered,
        "rare": rare,
        "too_large": too_large,
        "kept": len(kept),
        "mean_nodes": nodes / max(len(kept), 1),
    }


def fragment_report(stats: dict[str, Any]) -> str:
    """What :func:`load_fragment_dataset` kept, as lines: K, S, N and how N was chosen, then
    per split its molecules as three shares that add up to all of them: covered entirely, with
    a rare ring system (dropped from training), and over N. A molecule's nodes are counted with
    its rare ring systems written as atoms, so when N is the largest covered training graph
    every training molecule over N has a rare ring system."""
    n = stats["max_nodes"]
    chosen = "data.max_nodes" if stats["max_nodes_set"] else "the largest covered training graph"
    lines = [
        f"fragment vocabulary: K={stats['ring_systems']} of {stats['ring_systems_seen']} ring "
        f"systems of the training split, S={stats['max_sites']} sites, N={n} nodes ({chosen}; "
        f"atoms: {stats['max_atoms']})"
    ]
    for name in SPLITS:
        split = stats[name]
        total = max(split["molecules"], 1)
        rare = "dropped" if name == "train" else "kept, as atoms"
        lines.append(
            f"  {name}: {split['molecules']} molecules = {split['covered'] / total:.1%} covered "
            f"+ {split['rare'] / total:.1%} with a rare ring system ({rare}) "
            f"+ {split['too_large'] / total:.1%} over N={n} nodes, rare ring systems as atoms "
            f"(dropped); kept {split['kept']}, {split['mean_nodes']:.1f} nodes on average"
        )
    return "\n".join(lines)
