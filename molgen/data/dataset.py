"""Datasets of molecules as dense graphs: load, filter, report, cache, split.

``load_dataset(cfg.data)`` reads the source named by a :class:`~molgen.config.DataConfig`,
parses every SMILES (in several processes for large files), skips and reports what cannot be
used, fixes or infers the :class:`~molgen.chem.Vocabulary`, caches the tensors on disk and
splits them by seed::

    ds = load_dataset(cfg.data)
    x, adj = ds.train.x[idx].long(), ds.train.adj[idx].long()   # a training batch
    print(ds.report)                                            # what was skipped, file:line

Tensors are stored as ``torch.uint8`` (ZINC250k's ``[M, 38, 38]`` adjacency takes 361 MB
instead of 2.9 GB as int64); convert with ``.long()`` when batching.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from molgen.chem.graph import MolGraph, Vocabulary, bond_types_for, mol_graphs
from molgen.chem.valence import atom_valence
from molgen.data import cache
from molgen.data.sources import PACKAGED, Record, bundled_path, read_smiles
from molgen.errors import InputError, MissingFileError

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from molgen.chem.fragments import FragmentVocabulary
    from molgen.config import DataConfig

__all__ = ["GraphSplit", "LoadReport", "MolDataset", "load_dataset"]

log = logging.getLogger(__name__)

#: Files with at least this many SMILES are parsed in all cores' processes by default.
PARALLEL_FROM = 20_000
#: Skipped lines quoted per kind in a report.
EXAMPLES = 5
#: Characters of a skipped SMILES quoted in a report.
QUOTED_CHARS = 80

_SKIP_KINDS = {
    "unparseable": "unparseable",
    "too_large": "over max_atoms",
    "out_of_vocabulary": "outside the atom vocabulary",
}


@dataclass
class LoadReport:
    """What a load read, kept and skipped. For each kind of skip, ``counts[kind]`` and up to
    :data:`EXAMPLES` quoted lines ``(file, line, smiles, why)`` in ``examples[kind]``."""

    source: str
    read: int = 0
    kept: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SKIP_KINDS, 0))
    examples: dict[str, list[tuple[str, int, str, str]]] = field(
        default_factory=lambda: {kind: [] for kind in _SKIP_KINDS}
    )

    def skip(self, kind: str, record: Record, why: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES:
            smiles = record.smiles
            if len(smiles) > QUOTED_CHARS:  # a 100 kB line is named by file:line, not quoted
                smiles = f"{smiles[:QUOTED_CHARS]}..."
            self.examples[kind].append((record.file, record.line, smiles, why))

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        lines = [f"{self.source}: read {self.read} SMILES, kept {self.kept}"]
        for kind, label in _SKIP_KINDS.items():
            if self.counts[kind]:
                lines.append(f"  skipped {self.counts[kind]} {label}, e.g.:")
                lines.extend(
                    f"    {file}:{line}: {smiles!r}: {why}"
                    for file, line, smiles, why in self.examples[kind]
                )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "kept": self.kept,
            "counts": dict(self.counts),
            "examples": {kind: [list(e) for e in ex] for kind, ex in self.examples.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadReport:
        examples = {kind: [tuple(e) for e in ex] for kind, ex in d["examples"].items()}
        return cls(d["source"], d["read"], d["kept"], dict(d["counts"]), examples)


class GraphSplit(Dataset):
    """One split: canonical ``smiles`` and ``x: uint8 [M, N]``, ``adj: uint8 [M, N, N]``.

    ``split[i]`` is ``(x, adj)`` of molecule ``i`` as int64; for batches index the stored
    tensors directly (``split.x[idx].long()``).
    """

    def __init__(self, smiles: list[str], x: torch.Tensor, adj: torch.Tensor) -> None:
        if not (len(smiles) == x.shape[0] == adj.shape[0]):
            raise ValueError(
                f"smiles, x and adj disagree on the number of molecules: "
                f"{len(smiles)}, {x.shape[0]}, {adj.shape[0]}"
            )
        self.smiles = smiles
        self.x = x
        self.adj = adj

    def __len__(self) -> int:
        return len(self.smiles)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i].long(), self.adj[i].long()

    def to_pyg(self, i: int) -> Data:
        """Molecule ``i`` as a PyG ``Data``: ``x: [n]`` atom classes (no padding),
        ``edge_index: [2, E]`` with both directions of each bond, ``edge_attr: [E]`` bond
        classes, and ``smiles``. ``to_dense_batch(batch.x, batch.batch, max_num_nodes=N)`` and
        ``to_dense_adj(batch.edge_index, batch.batch, batch.edge_attr, max_num_nodes=N)`` give
        back this split's ``x`` and ``adj`` (atoms come first, padding last)."""
        from torch_geometric.data import Data  # PyG is heavy; only this method needs it

        x, adj = self[i]
        atoms = int((x != 0).sum())
        edge_index = adj[:atoms, :atoms].nonzero().t().contiguous()
        return Data(
            x=x[:atoms],
            edge_index=edge_index,
            edge_attr=adj[edge_index[0], edge_index[1]],
            smiles=self.smiles[i],
        )

    def __repr__(self) -> str:
        return f"GraphSplit({len(self)} molecules, N={self.x.shape[1]})"


@dataclass
class MolDataset:
    """A loaded dataset: vocabulary, the three splits, the load report, and ``info`` (plain
    types: source, checksum, split seed, fractions and sizes) for the run's records."""

    vocab: Vocabulary | FragmentVocabulary  # FragmentVocabulary: representation fragments
    train: GraphSplit
    val: GraphSplit
    test: GraphSplit
    report: LoadReport
    info: dict[str, Any]


def load_dataset(cfg: DataConfig, n_jobs: int | None = None) -> MolDataset:
    """Load the dataset described by ``cfg`` (see :class:`~molgen.config.DataConfig`) as atom
    graphs, whatever ``cfg.representation`` says (:func:`molgen.data.load_molecule_dataset`
    follows it).

    Args:
        cfg: source (``name`` or ``path`` + ``smiles_column``; its first ``limit`` SMILES),
            ``max_atoms``, fixed ``atom_types`` or None to infer them, ``aromatic``, split,
            ``strict``, ``cache_dir``.
        n_jobs: processes for parsing; default all cores for files of at least
            :data:`PARALLEL_FROM` SMILES, else one.

    Raises:
        ValueError: ``cfg.strict`` and an unparseable line (quoted with file:line), or no
            molecule left after filtering (with the counts of what was skipped).
        FileNotFoundError / ModuleNotFoundError: a missing file or, for ``qm9`` / ``moses``,
            a missing qm9pack / molsets package.
    """
    files, source = _source_files(cfg)
    settings = {
        "source": source,
        "smiles_column": cfg.smiles_column,
        "max_atoms": cfg.max_atoms,
        "atom_types": cfg.atom_types,
        "aromatic": cfg.aromatic,
        "strict": cfg.strict,
        "limit": cfg.limit,
    }
    key = cache.cache_key(files, settings)
    path = Path(cfg.cache_dir) / f"{Path(source).stem}-{key[:20]}.pt"
    entry = cache.load_entry(path, key)
    status = "hit"
    if entry is None:
        entry = _build(cfg, files, source, key, n_jobs)
        cache.save_entry(path, entry)
        status = "built"
    report = LoadReport.from_dict(entry["report"])
    if report.skipped:
        log.warning("%s", report)
    vocab = Vocabulary.from_dict(entry["vocab"])
    splits, split_info = _split(entry["smiles"], entry["x"], entry["adj"], cfg)
    info = {
        "source": source,
        "source_key": key,
        "cache": status,
        "cache_file": str(path),
        "num_molecules": len(entry["smiles"]),
        "vocab": vocab.to_dict(),
        **split_info,
        "skipped": dict(report.counts),
    }
    return MolDataset(vocab, *splits, report=report, info=info)


def _source_files(cfg: DataConfig) -> tuple[list[Path], str]:
    if cfg.name in PACKAGED:
        return PACKAGED[cfg.name].files(), cfg.name
    if cfg.name is not None:
        return [bundled_path(cfg.name)], cfg.name
    path = Path(cfg.path)
    if not path.is_file():
        raise MissingFileError(f"data.path: {path} is not a file")
    return [path], str(path)


def _read(cfg: DataConfig, files: list[Path]) -> list[Record]:
    if cfg.name in PACKAGED:
        records = PACKAGED[cfg.name].read()
    else:
        records = read_smiles(files[0], cfg.smiles_column)
    return list(itertools.islice(records, cfg.limit))


def _build(
    cfg: DataConfig, files: list[Path], source: str, key: str, n_jobs: int | None
) -> dict[str, Any]:
    records = _read(cfg, files)
    report = LoadReport(source, read=len(records))
    if n_jobs is None:
        n_jobs = -1 if len(records) >= PARALLEL_FROM else 1
    parsed = mol_graphs(
        [r.smiles for r in records],
        aromatic=cfg.aromatic,
        canonical=True,
        n_jobs=n_jobs,
        max_atoms=cfg.max_atoms,
    )
    kept: list[tuple[Record, MolGraph]] = []
    atom_problems: dict[str, str | None] = {}
    for record, graph in zip(records, parsed, strict=True):
        if graph is None:  # counted before canonicalising: huge molecules never reach RDKit
            report.skip("too_large", record, f"more than {cfg.max_atoms} heavy atoms")
        elif isinstance(graph, str):
            if cfg.strict:
                raise InputError(f"{record.file}:{record.line}: {graph} (data.strict is true)")
            report.skip("unparseable", record, graph)
        elif cfg.max_atoms is not None and len(graph.atoms) > cfg.max_atoms:
            report.skip("too_large", record, f"{len(graph.atoms)} atoms > {cfg.max_atoms}")
        elif (problem := _atom_type_problem(graph, atom_problems)) is not None:
            report.skip("out_of_vocabulary", record, problem)
        else:
            kept.append((record, graph))
    vocab = _vocabulary(cfg, [graph for _, graph in kept], report)
    graphs = []
    for record, graph in kept:
        problem = vocab.encoding_problem(graph)
        if problem is None:
            graphs.append(graph)
        else:
            report.skip("out_of_vocabulary", record, problem)
    report.kept = len(graphs)
    if not graphs:
        raise InputError(f"no molecules left to train on:\n{report}")
    x, adj = (torch.from_numpy(a) for a in vocab.graphs_to_arrays(graphs))
    smiles = [graph.smiles for graph in graphs]
    return {
        "key": key,
        "vocab": vocab.to_dict(),
        "smiles": smiles,
        "x": x,
        "adj": adj,
        "report": report.to_dict(),
        "checksum": cache.content_checksum(smiles, (x, adj)),
    }


def _atom_type_problem(graph: MolGraph, known: dict[str, str | None]) -> str | None:
    """Why an atom of ``graph`` can be in no vocabulary (``[C+10]``: a charge that leaves no
    element, so no valence for the generator), else None; ``known`` caches each atom type's
    answer."""
    for symbol in graph.atoms:
        if symbol not in known:
            try:
                atom_valence(symbol)
                known[symbol] = None
            except ValueError as exc:
                known[symbol] = str(exc)
        if known[symbol] is not None:
            return known[symbol]
    return None


def _vocabulary(cfg: DataConfig, graphs: Sequence[MolGraph], report: LoadReport) -> Vocabulary:
    if cfg.atom_types is None:
        if not graphs:
            raise InputError(
                f"no parseable molecule within data.max_atoms to infer a vocabulary:\n{report}"
            )
        return Vocabulary.from_graphs(graphs, cfg.max_atoms, cfg.aromatic)
    max_atoms = cfg.max_atoms
    if max_atoms is None:
        max_atoms = max((len(g.atoms) for g in graphs), default=1)
    try:
        return Vocabulary(tuple(cfg.atom_types), bond_types_for(cfg.aromatic), max_atoms)
    except ValueError as exc:
        raise InputError(f"data.atom_types: {exc}") from None


def _split(
    smiles: list[str], x: torch.Tensor, adj: torch.Tensor, cfg: DataConfig
) -> tuple[tuple[GraphSplit, GraphSplit, GraphSplit], dict[str, Any]]:
    """Seeded permutation: the first ``round(test_fraction * M)`` molecules are the test set,
    the next ``round(val_fraction * M)`` validation, the rest training (each in file order)."""
    total = len(smiles)
    n_test = round(cfg.test_fraction * total)
    n_val = round(cfg.val_fraction * total)
    if total - n_test - n_val < 1:
        raise InputError(
            f"{total} molecules leave no training set with data.val_fraction="
            f"{cfg.val_fraction} and data.test_fraction={cfg.test_fraction}"
        )
    order = np.random.default_rng(cfg.split_seed).permutation(total)
    parts = {
        "train": np.sort(order[n_test + n_val :]),
        "val": np.sort(order[n_test : n_test + n_val]),
        "test": np.sort(order[:n_test]),
    }
    splits = []
    for indices in parts.values():
        index = torch.from_numpy(indices)
        splits.append(GraphSplit([smiles[i] for i in indices.tolist()], x[index], adj[index]))
    info = {
        "split_seed": cfg.split_seed,
        "val_fraction": cfg.val_fraction,
        "test_fraction": cfg.test_fraction,
        "sizes": {name: len(indices) for name, indices in parts.items()},
    }
    return (splits[0], splits[1], splits[2]), info
