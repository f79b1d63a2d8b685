"""Training on graphs without chemistry (``data.kind: graphs``): the parts of a run that
differ from a molecule run's, which the trainer, the run folder and sampling call when the
data are graphs. Nothing here imports RDKit.

- the data: :func:`~molgen.data.graphs.load_graph_dataset` of ``data.name`` or ``data.path``,
  split like SPECTRE's, and its :class:`~molgen.data.graphs.GraphVocabulary`;
- the critic's arguments (every edge of order 1, degrees for the structure features'
  histograms); the generator, :class:`~molgen.models.GraphGenerator` (node count from the
  training law, then edges), is built by :func:`molgen.training.run.build_generator`, and the
  run folder holds the splits as ``train.g6``, ``val.g6`` and ``test.g6``
  (:mod:`molgen.training.run`);
- evaluation during training: :func:`~molgen.metrics.graphs.evaluate_graphs` of
  ``train.n_eval`` samples against the validation graphs (degree, clustering, orbit and
  spectral MMD; uniqueness and novelty against the training graphs; validity and V.U.N. for
  planar and SBM), logged as ``eval/...`` to ``metrics.jsonl``, and the samples written as
  ``samples/stepNNNNNNN.g6``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from molgen.config import DataConfig
from molgen.data.graphs import GraphDataset, GraphVocabulary, graph6_line, load_graph_dataset
from molgen.metrics.graphs import GRAPH_BENCHMARKS, evaluate_graphs
from molgen.models import Generator
from molgen.training.run import GRAPH_SPLIT_SUFFIX
from molgen.training.sampling import generate_graphs

__all__ = [
    "GraphReference",
    "critic_graph_args",
    "evaluate_graphs_during_training",
    "load_graph_data",
]
#: The largest degree the critic's structure features histogram (larger ones share the bin).
MAX_DEGREE_BIN = 32


def load_graph_data(cfg: DataConfig) -> GraphDataset:
    """The graphs of ``cfg``: a benchmark regenerated (``data.name``) or the user's files
    (``data.path``), split like SPECTRE's."""
    if cfg.path is not None:
        return load_graph_dataset(path=cfg.path)
    return load_graph_dataset(name=cfg.name)


def critic_graph_args(vocab: GraphVocabulary) -> dict[str, Any]:
    """The critic's keyword arguments for graphs: an edge spends 1 of each end's degree, no
    aromatic class, and degree histograms up to ``N - 1`` (at most :data:`MAX_DEGREE_BIN`)."""
    return {
        "bond_orders": [0.0, 1.0],
        "aromatic_bond": None,
        "max_valence": max(1, min(vocab.max_nodes - 1, MAX_DEGREE_BIN)),
    }


@dataclass(frozen=True)
class GraphReference:
    """What samples are scored against during training: the validation graphs (the MMDs), the
    training graphs (novelty) and the benchmark whose validity applies (planar, SBM), if any."""

    val: list[nx.Graph]
    train: list[nx.Graph]
    benchmark: str | None

    @classmethod
    def of(cls, dataset: GraphDataset, cfg: DataConfig) -> GraphReference:
        benchmark = cfg.name if cfg.name in GRAPH_BENCHMARKS else None
        return cls(dataset.val.graphs, dataset.train.graphs, benchmark)


def evaluate_graphs_during_training(
    sampler: Generator, reference: GraphReference, n: int, seed: int, step: int, run_dir: Path
) -> dict[str, float]:
    """Sample ``n`` graphs with ``seed``, write them to ``samples/stepNNNNNNN.g6`` and return
    :func:`~molgen.metrics.graphs.evaluate_graphs`'s metrics against ``reference``."""
    graphs = [graph for batch in generate_graphs(sampler, n, seed=seed) for graph in batch]
    samples = run_dir / "samples" / f"step{step:07d}{GRAPH_SPLIT_SUFFIX}"
    samples.parent.mkdir(parents=True, exist_ok=True)
    samples.write_text("".join(f"{graph6_line(graph)}\n" for graph in graphs))
    evaluation = evaluate_graphs(graphs, reference.val, reference.train, reference.benchmark)
    return evaluation.metrics
