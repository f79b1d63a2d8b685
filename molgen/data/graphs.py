"""Generic graphs, without chemistry: the graph-generation literature's synthetic benchmarks,
the user's own graph files, and dense tensors for a trainer.

The three benchmarks are **regenerated here from their published recipes with a fixed seed**;
they are not SPECTRE's (or GraphRNN's, GDSS's) own stored graphs, so a model's numbers on them
are comparable with the papers' in distribution, not graph for graph:

- ``planar`` (SPECTRE): 200 graphs of 64 nodes, the Delaunay triangulation of 64 points drawn
  uniformly in the unit square (:func:`planar_graphs`);
- ``sbm`` (SPECTRE): 200 stochastic-block-model graphs of 2-5 communities of 20-40 nodes,
  edge probability 0.3 within a community and 0.005 between two (:func:`sbm_graphs`);
- ``community_small`` (GraphRNN's, as GDSS and SPECTRE generate it): 100 graphs of 12-20 nodes
  in two equal communities (:func:`community_small_graphs`).

Each is split like SPECTRE (:func:`spectre_split`: 20% test, 80% of the rest training, the
rest validation; 128/32/40 of 200 graphs, 64/16/20 of 100)::

    ds = load_graph_dataset("planar")
    ds.train.adj[idx].long(), ds.train.mask[idx]       # a training batch, [B, N, N] and [B, N]
    ds.test.graphs                                     # networkx graphs, e.g. for the metrics

Users bring their own graphs as files (:func:`read_graphs`: edge lists, GraphML, graph6, one
file or a folder of them; never pickles) or as a torch-geometric dataset (:func:`from_pyg`).
Nothing here imports RDKit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch
from scipy.spatial import Delaunay

from molgen.errors import InputError, MissingFileError

__all__ = [
    "EDGE_LIST_SUFFIXES",
    "GRAPH_DATASETS",
    "GRAPH_SUFFIXES",
    "DenseGraphs",
    "GraphDataset",
    "GraphVocabulary",
    "block_model_graph",
    "community_small_graphs",
    "dense_to_graphs",
    "from_pyg",
    "generate_graphs",
    "graph6_line",
    "load_graph_dataset",
    "planar_graphs",
    "read_graphs",
    "sbm_graphs",
    "spectre_split",
    "to_dense",
]

#: File name endings read as edge lists: one edge ``u v`` per line (further fields ignored),
#: a node alone on a line is an isolated node, ``#`` starts a comment.
EDGE_LIST_SUFFIXES = (".edgelist", ".edges", ".txt")
#: Every file name ending :func:`read_graphs` reads; ``.g6``/``.s6`` (graph6/sparse6) hold one
#: graph per line, so one file can hold a whole sample.
GRAPH_SUFFIXES = (*EDGE_LIST_SUFFIXES, ".graphml", ".g6", ".s6")
#: SPECTRE seeds ``torch.utils.data.random_split`` with this for every synthetic dataset.
SPECTRE_SPLIT_SEED = 1234


def planar_graphs(n_graphs: int = 200, n_nodes: int = 64, seed: int = 0) -> list[nx.Graph]:
    """SPECTRE's planar graphs: the Delaunay triangulation of ``n_nodes`` points drawn uniformly
    in the unit square, ``n_graphs`` times (numpy ``default_rng(seed)``). Each graph is planar
    and connected; node ``i`` is point ``i``."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n_graphs):
        triangles = Delaunay(rng.random((n_nodes, 2))).simplices
        graph = nx.empty_graph(n_nodes)
        graph.add_edges_from(
            (int(a), int(b))
            for t in triangles
            for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
        )
        graphs.append(graph)
    return graphs


def sbm_graphs(
    n_graphs: int = 200,
    seed: int = 0,
    communities: tuple[int, int] = (2, 5),
    community_size: tuple[int, int] = (20, 40),
    p_intra: float = 0.3,
    p_inter: float = 0.005,
) -> list[nx.Graph]:
    """SPECTRE's stochastic-block-model graphs: per graph, a number of communities uniform in
    ``communities`` (inclusive), each of a size uniform in ``community_size`` (inclusive), and
    each node pair an edge with probability ``p_intra`` within a community, ``p_inter``
    between two. SPECTRE's code (``data.py``, ``SBMDataset``) uses 0.005 between communities,
    and DiGress's validity test assumes the same, although the SPECTRE paper's text says 0.05.
    Nodes are numbered community by community; ``graph.graph["blocks"]`` holds the sizes."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n_graphs):
        k = int(rng.integers(communities[0], communities[1] + 1))
        sizes = rng.integers(community_size[0], community_size[1] + 1, size=k)
        graph = block_model_graph(sizes.tolist(), p_intra, p_inter, rng)
        graph.graph["blocks"] = sizes.tolist()
        graphs.append(graph)
    return graphs


def block_model_graph(
    sizes: Sequence[int], p_intra: float, p_inter: float, rng: np.random.Generator
) -> nx.Graph:
    """A stochastic block model's graph: communities of ``sizes``, numbered community by
    community, each node pair an edge with probability ``p_intra`` within a community and
    ``p_inter`` between two (one ``rng.random`` draw per pair of the full square)."""
    blocks = np.repeat(np.arange(len(sizes)), sizes)
    probability = np.where(blocks[:, None] == blocks[None, :], p_intra, p_inter)
    upper = np.triu(rng.random(probability.shape) < probability, k=1)
    graph = nx.empty_graph(len(blocks))
    graph.add_edges_from(zip(*(a.tolist() for a in upper.nonzero()), strict=True))
    return graph


def community_sizes(graph: nx.Graph) -> tuple[int, ...]:
    """The sizes of ``graph``'s communities, largest first: Louvain's partition (networkx's
    ``louvain_communities``, seed 0, so the same graph always splits the same way) at
    modularity resolution 0.5, which favours larger communities than 1 does: at 1 it splits
    the larger block of 11 of the 50 two-block SBM graphs (183 of the 200 come out as the
    recipe drew them, 194 at 0.5, the rest within two nodes). An isolated node is a
    community of its own."""
    communities = nx.community.louvain_communities(graph, resolution=0.5, seed=0)
    return tuple(sorted((len(c) for c in communities), reverse=True))


def community_small_graphs(
    n_graphs: int = 100, seed: int = 0, nodes: tuple[int, int] = (12, 20), p_inter: float = 0.05
) -> list[nx.Graph]:
    """community-small as GDSS (``data/data_generators.py``, ``n_community``, after EDP-GNN) and
    SPECTRE generate it: a total size uniform in ``nodes`` (inclusive), two communities of half
    that size (rounded down), each ``nx.gnp_random_graph(size, 0.7, seed=c)`` for community
    ``c`` (the recipe's fixed seeds: equal sizes give equal communities), then each pair of
    nodes in different communities a bridge with probability ``2 p_inter / size``, and one
    bridge between the first nodes when none was drawn. Draws come from numpy
    ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n_graphs):
        size = int(rng.integers(nodes[0], nodes[1] + 1)) // 2
        graph = nx.disjoint_union_all([nx.gnp_random_graph(size, 0.7, seed=c) for c in (0, 1)])
        p_bridge = p_inter * 2 / size
        parts = [sorted(c) for c in nx.connected_components(graph)]
        for i, first in enumerate(parts):
            for second in parts[i + 1 :]:
                bridges = rng.random((len(first), len(second))) < p_bridge
                graph.add_edges_from(
                    (first[a], second[b]) for a, b in zip(*bridges.nonzero(), strict=True)
                )
                if not bridges.any():
                    graph.add_edge(first[0], second[0])
        graphs.append(graph)
    return graphs


#: The benchmarks :func:`generate_graphs` knows, with their generators.
GRAPH_DATASETS = {
    "planar": planar_graphs,
    "sbm": sbm_graphs,
    "community_small": community_small_graphs,
}


def generate_graphs(name: str, seed: int = 0) -> list[nx.Graph]:
    """All graphs of benchmark ``name`` (:data:`GRAPH_DATASETS`), regenerated with ``seed``."""
    if name not in GRAPH_DATASETS:
        raise InputError(f"unknown graph dataset {name!r}; known: {sorted(GRAPH_DATASETS)}")
    return GRAPH_DATASETS[name](seed=seed)


def spectre_split(n: int, seed: int = SPECTRE_SPLIT_SEED) -> tuple[list[int], list[int], list[int]]:
    """SPECTRE's (GRAN's) split of ``n`` graphs: ``round(0.2 n)`` test, ``round(0.8 (n - test))``
    training, the rest validation, drawn as ``torch.utils.data.random_split`` draws them with a
    generator seeded ``seed`` (the same indices as SPECTRE's for the same ``n``). Returns the
    train, val and test indices."""
    n_test = round(n * 0.2)
    n_train = round((n - n_test) * 0.8)
    n_val = n - n_train - n_test
    if min(n_train, n_test) < 1:
        raise InputError(f"{n} graphs are too few to split into training and test sets")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


@dataclass
class DenseGraphs(torch.utils.data.Dataset):
    """Graphs as padded dense tensors, in the layout of the molecule splits
    (:class:`~molgen.data.GraphSplit`), with one node type and one edge type:

    - ``adj: uint8 [M, N, N]``, symmetric, 1 for an edge, 0 otherwise (and on padding);
    - ``x: uint8 [M, N]``, 1 for a node, 0 for padding (the molecules' "no atom" class 0);
    - ``mask: bool [M, N]`` (``x != 0``) and ``n_nodes: int64 [M]``.

    Nodes come first in each graph's own node order, padding last. ``graphs`` keeps the
    networkx graphs. ``split[i]`` is ``(x, adj)`` of graph ``i`` as int64.
    """

    graphs: list[nx.Graph]
    x: torch.Tensor
    adj: torch.Tensor

    def __post_init__(self) -> None:
        if not (len(self.graphs) == self.x.shape[0] == self.adj.shape[0]):
            raise ValueError(
                f"graphs, x and adj disagree on the number of graphs: "
                f"{len(self.graphs)}, {self.x.shape[0]}, {self.adj.shape[0]}"
            )

    @property
    def mask(self) -> torch.Tensor:
        return self.x != 0

    @property
    def n_nodes(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i].long(), self.adj[i].long()

    def __repr__(self) -> str:
        return f"DenseGraphs({len(self)} graphs, N={self.x.shape[1]})"


def to_dense(graphs: Sequence[nx.Graph], max_nodes: int | None = None) -> DenseGraphs:
    """Pad ``graphs`` to ``max_nodes`` (default: the largest graph's size) as
    :class:`DenseGraphs`. Raises InputError when a graph has more nodes."""
    sizes = [g.number_of_nodes() for g in graphs]
    n = max(sizes, default=0) if max_nodes is None else max_nodes
    if sizes and max(sizes) > n:
        raise InputError(f"a graph has {max(sizes)} nodes, more than max_nodes={n}")
    x = torch.zeros(len(graphs), n, dtype=torch.uint8)
    adj = torch.zeros(len(graphs), n, n, dtype=torch.uint8)
    for i, graph in enumerate(graphs):
        x[i, : sizes[i]] = 1
        matrix = nx.to_numpy_array(graph, dtype=np.uint8, weight=None)
        adj[i, : sizes[i], : sizes[i]] = torch.from_numpy(matrix)
    adj.diagonal(dim1=1, dim2=2).zero_()  # no self-loops: the edge sampler never makes one
    return DenseGraphs(list(graphs), x, adj)


@dataclass(frozen=True)
class GraphVocabulary:
    """What a generator and a critic of graphs know of the data: graphs of at most
    ``max_nodes`` nodes of one type, edges of one type (class 0 is "no node" / "no edge", as
    in a molecule vocabulary), and ``node_counts[n]``, the number of training graphs with
    ``n`` nodes (``n = 0..max_nodes``), whose law the generator draws node counts from, and
    ``edge_density``, the mean over the training graphs of their edges over their node pairs
    (where the generator's edge logits start).

    It answers the molecule vocabulary's questions the trainer asks (``num_atom_types``,
    ``num_bond_types``, ``max_atoms``, ``to_dict``), with no chemistry behind them.
    """

    max_nodes: int
    node_counts: tuple[int, ...]
    edge_density: float
    node_types: tuple[str, ...] = ("node",)
    edge_types: tuple[str, ...] = ("edge",)

    def __post_init__(self) -> None:
        if self.max_nodes < 1:
            raise ValueError(f"max_nodes must be >= 1, got {self.max_nodes}")
        counts = self.node_counts
        if len(counts) != self.max_nodes + 1 or any(c < 0 for c in counts) or not sum(counts):
            raise ValueError(
                f"node_counts must be {self.max_nodes + 1} counts >= 0, not all 0, got {counts}"
            )
        if not 0 <= self.edge_density <= 1:
            raise ValueError(f"edge_density must be in [0, 1], got {self.edge_density}")

    @property
    def num_atom_types(self) -> int:
        """Node classes, "no node" included."""
        return len(self.node_types) + 1

    @property
    def num_bond_types(self) -> int:
        """Edge classes, "no edge" included."""
        return len(self.edge_types) + 1

    @property
    def max_atoms(self) -> int:
        """:attr:`max_nodes`, under the molecule vocabulary's name."""
        return self.max_nodes

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "graphs",
            "max_nodes": self.max_nodes,
            "node_counts": list(self.node_counts),
            "edge_density": self.edge_density,
            "node_types": list(self.node_types),
            "edge_types": list(self.edge_types),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphVocabulary:
        """The vocabulary :meth:`to_dict` wrote; ValueError (or KeyError) for anything else."""
        if data.get("kind") != "graphs":
            raise ValueError(f"not a graph vocabulary (kind {data.get('kind')!r})")
        return cls(
            int(data["max_nodes"]),
            tuple(int(c) for c in data["node_counts"]),
            float(data["edge_density"]),
            tuple(map(str, data["node_types"])),
            tuple(map(str, data["edge_types"])),
        )


@dataclass
class GraphDataset:
    """A split graph dataset: the three :class:`DenseGraphs` (padded to the largest graph of
    all three) and ``info`` (plain types: source, seed, split sizes, node counts)."""

    train: DenseGraphs
    val: DenseGraphs
    test: DenseGraphs
    info: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def vocab(self) -> GraphVocabulary:
        """Its :class:`GraphVocabulary`: the padded size, the training split's node counts and
        edge density."""
        size = self.train.x.shape[1]
        counts = torch.bincount(self.train.n_nodes, minlength=size + 1)
        densities = [nx.density(graph) for graph in self.train.graphs]
        return GraphVocabulary(size, tuple(counts.tolist()), sum(densities) / len(densities))


def load_graph_dataset(
    name: str | None = None, path: str | Path | None = None, seed: int = 0
) -> GraphDataset:
    """Benchmark ``name`` regenerated with ``seed`` (:func:`generate_graphs`), or the graphs of
    ``path`` (:func:`read_graphs`), split by :func:`spectre_split`."""
    if (name is None) == (path is None):
        raise InputError("give exactly one of a graph dataset name and a path")
    graphs = generate_graphs(name, seed) if name is not None else read_graphs(path)
    parts = spectre_split(len(graphs))
    n_max = max(g.number_of_nodes() for g in graphs)
    train, val, test = (to_dense([graphs[i] for i in part], n_max) for part in parts)
    sizes = [g.number_of_nodes() for g in graphs]
    info = {
        "source": name if name is not None else str(path),
        "seed": seed if name is not None else None,
        "num_graphs": len(graphs),
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "nodes": {"min": min(sizes), "max": n_max},
    }
    return GraphDataset(train, val, test, info)


def read_graphs(path: str | Path) -> list[nx.Graph]:
    """Read the graphs of ``path``: one file or a folder of files (its :data:`GRAPH_SUFFIXES`
    files, in name order; other files are ignored), as simple undirected graphs (directions,
    repeated edges, self-loops, node and edge attributes are dropped).

    Formats by file ending: edge lists (:data:`EDGE_LIST_SUFFIXES`, one graph per file),
    GraphML (``.graphml``, one graph per file), graph6/sparse6 (``.g6``/``.s6``, one graph per
    line). Nodes keep their file order (first appearance in an edge list).

    Raises MissingFileError for a missing path, InputError naming the file (and line) for an
    unreadable file, an unknown ending, or no graph at all.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in GRAPH_SUFFIXES
        )
        if not files:
            raise InputError(f"{path}: no graph files (endings {', '.join(GRAPH_SUFFIXES)})")
    elif path.suffix.lower() in GRAPH_SUFFIXES:
        files = [path]
    else:
        raise InputError(f"{path}: unknown graph file ending; known: {', '.join(GRAPH_SUFFIXES)}")
    graphs = [graph for file in files for graph in _read_file(file)]
    if not graphs:
        raise InputError(f"{path}: no graphs")
    return graphs


def _read_file(path: Path) -> list[nx.Graph]:
    suffix = path.suffix.lower()
    if suffix in EDGE_LIST_SUFFIXES:
        return [_read_edge_list(path)]
    if suffix == ".graphml":
        try:
            return [_simple(nx.read_graphml(path))]
        except (nx.NetworkXError, ValueError, KeyError, SyntaxError) as error:
            raise InputError(f"{path}: unreadable GraphML: {error}") from None
    parse = nx.from_graph6_bytes if suffix == ".g6" else nx.from_sparse6_bytes
    graphs = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.strip():
            try:
                graphs.append(parse(line.strip()))
            except (nx.NetworkXError, ValueError, IndexError) as error:
                raise InputError(f"{path}:{number}: not {suffix[1:]}: {error}") from None
    return [_simple(graph) for graph in graphs]


def _read_edge_list(path: Path) -> nx.Graph:
    graph = nx.Graph()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a UTF-8 text edge list ({error.reason})") from None
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 1:
            graph.add_node(fields[0])
        elif fields:
            if fields[0] != fields[1]:  # a self-loop is dropped, its node kept
                graph.add_edge(fields[0], fields[1])
            else:
                graph.add_node(fields[0])
    return graph


def _simple(graph: nx.Graph) -> nx.Graph:
    """An undirected simple graph with ``graph``'s nodes, in order, and no attributes."""
    simple = nx.Graph()
    simple.add_nodes_from(graph.nodes())
    simple.add_edges_from((u, v) for u, v in graph.edges() if u != v)
    return simple


def from_pyg(dataset: Iterable[Any]) -> list[nx.Graph]:
    """The graphs of a torch-geometric dataset (or any iterable of ``Data`` objects with
    ``num_nodes`` and ``edge_index``) as simple undirected networkx graphs; features and
    labels are dropped."""
    graphs = []
    for data in dataset:
        graph = nx.empty_graph(int(data.num_nodes))
        edges = data.edge_index.t().tolist()
        graph.add_edges_from((u, v) for u, v in edges if u != v)
        graphs.append(graph)
    return graphs


def dense_to_graphs(x: torch.Tensor, adj: torch.Tensor) -> list[nx.Graph]:
    """Node classes ``x: [B, N]`` and edge classes ``adj: [B, N, N]`` (0: none; the layout of
    :class:`DenseGraphs` and of a generator's argmax) as networkx graphs: the present nodes,
    numbered ``0..n-1`` in their order, and the edges among them."""
    graphs = []
    for nodes, edges in zip(x.cpu(), adj.cpu(), strict=True):
        present = (nodes != 0).nonzero().flatten()
        sub = edges[present][:, present] != 0
        graph = nx.empty_graph(len(present))
        graph.add_edges_from(
            zip(*(a.tolist() for a in torch.triu(sub, 1).nonzero().T), strict=True)
        )
        graphs.append(graph)
    return graphs


def graph6_line(graph: nx.Graph) -> str:
    """``graph`` as one graph6 line, without header or newline (``.g6`` files hold one per
    line; :func:`read_graphs` reads them back with their nodes numbered ``0..n-1``)."""
    return nx.to_graph6_bytes(graph, header=False).decode("ascii").strip()
