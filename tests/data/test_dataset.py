import gzip
import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch
from torch_geometric.utils import to_dense_adj, to_dense_batch

from molgen.chem import canonical_smiles, check_smiles, decode
from molgen.config import DataConfig
from molgen.data import bundled_path, load_dataset, read_smiles

REPO = Path(__file__).resolve().parents[2]


def config(tmp_path, **fields) -> DataConfig:
    return DataConfig(**{"name": None, "cache_dir": tmp_path / "cache", **fields})


def write(tmp_path, text: str, name: str = "mols.smi") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def qm9_5k(tmp_path_factory):
    return load_dataset(DataConfig(cache_dir=tmp_path_factory.mktemp("cache")))


def test_bundled_sample_loads_with_a_seeded_split(qm9_5k):
    assert qm9_5k.info["num_molecules"] == 5000
    assert qm9_5k.info["sizes"] == {"train": 4500, "val": 250, "test": 250}
    assert qm9_5k.vocab.max_atoms == 9
    assert {"C", "N", "O", "F", "N+", "O-"} <= set(qm9_5k.vocab.atom_types)
    splits = (qm9_5k.train, qm9_5k.val, qm9_5k.test)
    assert [len(s) for s in splits] == [4500, 250, 250]
    for split in splits:
        assert split.x.dtype == split.adj.dtype == torch.uint8  # compact storage
        assert split.x.shape == (len(split), 9) and split.adj.shape == (len(split), 9, 9)
    json.dumps(qm9_5k.info)  # plain types, saved with the run


def test_splits_partition_the_file_and_hold_its_canonical_smiles(qm9_5k):
    source = [r.smiles for r in read_smiles(bundled_path("qm9_5k"))]
    together = qm9_5k.train.smiles + qm9_5k.val.smiles + qm9_5k.test.smiles
    assert sorted(together) == sorted(source)  # the file is already canonical
    for split in (qm9_5k.train, qm9_5k.test):
        assert decode(split.x.long(), split.adj.long(), qm9_5k.vocab) == split.smiles


def test_item_is_int64(qm9_5k):
    x, adj = qm9_5k.train[7]
    assert x.dtype == adj.dtype == torch.long
    assert torch.equal(x, qm9_5k.train.x[7].long()) and torch.equal(adj, qm9_5k.train.adj[7].long())


def test_split_depends_on_the_seed_only(tmp_path):
    path = write(tmp_path, "\n".join(["C" * k for k in range(1, 10)] * 20))
    first = load_dataset(config(tmp_path, path=path, val_fraction=0.1, test_fraction=0.2))
    again = load_dataset(config(tmp_path, path=path, val_fraction=0.1, test_fraction=0.2))
    other = load_dataset(
        config(tmp_path, path=path, val_fraction=0.1, test_fraction=0.2, split_seed=1)
    )
    assert first.info["sizes"] == {"train": 126, "val": 18, "test": 36}
    assert first.info["split_seed"] == 0 and other.info["split_seed"] == 1
    assert torch.equal(first.test.x, again.test.x) and first.test.smiles == again.test.smiles
    assert not torch.equal(first.test.x, other.test.x)


def test_bad_lines_are_skipped_and_reported_with_file_and_line(tmp_path, caplog):
    lines = ["CCO", "C1CC", "CC(C)(C)(C)(C)C", "not_a_smiles", "CCCCCCCCCCC", "CN"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="molgen.data"):
        ds = load_dataset(config(tmp_path, path=path, val_fraction=0.0, test_fraction=0.0))
    report = ds.report
    assert (report.read, report.kept) == (6, 2)
    assert report.counts == {"unparseable": 3, "too_large": 1, "out_of_vocabulary": 0}
    assert [e[:3] for e in report.examples["unparseable"]] == [
        ("mols.smi", 2, "C1CC"),
        ("mols.smi", 3, "CC(C)(C)(C)(C)C"),  # pentavalent carbon does not sanitize
        ("mols.smi", 4, "not_a_smiles"),
    ]
    assert report.examples["too_large"][0][:2] == ("mols.smi", 5)
    text = str(report)
    assert "skipped 3 unparseable" in text and "mols.smi:4: 'not_a_smiles'" in text
    assert "mols.smi:5" in caplog.text
    assert ds.info["skipped"]["unparseable"] == 3
    assert sorted(ds.train.smiles) == ["CN", "CCO"] or sorted(ds.train.smiles) == ["CCO", "CN"]


def test_report_quotes_only_the_first_few(tmp_path):
    path = write(tmp_path, "C\n" + "C1CC\n" * 30)
    report = load_dataset(config(tmp_path, path=path, val_fraction=0, test_fraction=0)).report
    assert report.counts["unparseable"] == 30 and len(report.examples["unparseable"]) == 5
    assert [e[1] for e in report.examples["unparseable"]] == [2, 3, 4, 5, 6]


def test_strict_raises_on_the_first_bad_line(tmp_path):
    path = write(tmp_path, "CCO\nCN\nC1CC\nXX\n")
    with pytest.raises(ValueError, match=r"mols\.smi:3: malformed SMILES 'C1CC'.*strict"):
        load_dataset(config(tmp_path, path=path, strict=True))


def test_fixed_atom_types_count_molecules_outside(tmp_path):
    path = write(tmp_path, "CCO\nCCCl\nCC[O-]\nCN\nCCBr\n")
    cfg = config(tmp_path, path=path, atom_types=["C", "N", "O"], val_fraction=0, test_fraction=0)
    ds = load_dataset(cfg)
    assert ds.vocab.atom_types == ("C", "N", "O")
    assert ds.report.counts["out_of_vocabulary"] == 3
    assert [e[1] for e in ds.report.examples["out_of_vocabulary"]] == [2, 3, 5]
    assert "'Cl' is not in the vocabulary" in ds.report.examples["out_of_vocabulary"][0][3]
    assert sorted(ds.train.smiles) == ["CCO", "CN"]


def test_bad_fixed_atom_types_name_the_setting(tmp_path):
    path = write(tmp_path, "CCO\n")
    with pytest.raises(ValueError, match=r"data\.atom_types.*Qq"):
        load_dataset(config(tmp_path, path=path, atom_types=["C", "Qq"]))


def test_empty_result_is_a_clear_error(tmp_path):
    path = write(tmp_path, "CCCCCCCCCCCC\nC1CC\n")
    with pytest.raises(ValueError, match=r"no parseable molecule within data\.max_atoms"):
        load_dataset(config(tmp_path, path=path))
    with pytest.raises(ValueError, match=r"(?s)no molecules left.*1 over max_atoms"):
        load_dataset(config(tmp_path, path=path, atom_types=["C"]))


def test_too_few_molecules_for_a_training_set(tmp_path):
    path = write(tmp_path, "CC\nCO\n")
    with pytest.raises(ValueError, match="no training set"):
        load_dataset(config(tmp_path, path=path, val_fraction=0.4, test_fraction=0.4))


def test_max_atoms_none_takes_the_largest_molecule(tmp_path):
    path = write(tmp_path, "CCCCCCCCCCCC\nCC\n")
    ds = load_dataset(config(tmp_path, path=path, max_atoms=None, val_fraction=0, test_fraction=0))
    assert ds.vocab.max_atoms == 12 and ds.train.x.shape == (2, 12)


def test_csv_source_with_column_and_aromatic_bonds(tmp_path):
    path = write(tmp_path, "id,mol\n1,c1cc[nH]c1\n2,c1ccccc1O\n", name="set.csv")
    cfg = config(
        tmp_path, path=path, smiles_column="mol", aromatic=True, val_fraction=0, test_fraction=0
    )
    ds = load_dataset(cfg)
    assert ds.vocab.aromatic and "NH" in ds.vocab.atom_types
    assert ds.train.smiles == ["c1cc[nH]c1", "Oc1ccccc1"]
    assert decode(ds.train.x.long(), ds.train.adj.long(), ds.vocab) == ds.train.smiles


def test_pyg_round_trip_through_to_dense(qm9_5k):
    split = qm9_5k.val
    indices = list(range(0, 64, 3))
    data = [split.to_pyg(i) for i in indices]
    first = data[0]
    assert first.edge_index.shape[0] == 2 and first.edge_attr.shape == (first.edge_index.shape[1],)
    assert first.num_nodes == int((split.x[indices[0]] != 0).sum())
    assert first.smiles == split.smiles[indices[0]]
    batch = Batch.from_data_list(data)
    n = qm9_5k.vocab.max_atoms
    x, _ = to_dense_batch(batch.x, batch.batch, max_num_nodes=n)
    adj = to_dense_adj(batch.edge_index, batch.batch, batch.edge_attr, max_num_nodes=n)
    assert torch.equal(x, split.x[indices].long())
    assert torch.equal(adj.long(), split.adj[indices].long())
    assert batch.smiles == [split.smiles[i] for i in indices]


def test_bundled_file_is_canonical_and_was_drawn_by_the_script():
    spec = importlib.util.spec_from_file_location("prepare_qm9", REPO / "scripts/prepare_qm9.py")
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    rows = [line.split() for line in bundled_path("qm9_5k").read_text().splitlines()]
    assert len(rows) == 5000
    assert [int(position) - 1 for _, position in rows] == prepare.select(130_831, 5000, 0).tolist()
    for smiles, _ in rows:
        checked = check_smiles(smiles)
        assert checked.valid and checked.smiles == smiles == canonical_smiles(checked.mol)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs qm9pack")
def test_prepare_qm9_regenerates_the_bundled_file(tmp_path):
    script = REPO / "scripts/prepare_qm9.py"
    spec = importlib.util.spec_from_file_location("prepare_qm9", script)
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    out = tmp_path / "qm9_5k.smi"
    assert prepare.main(["--out", str(out)]) == 0
    assert out.read_bytes() == bundled_path("qm9_5k").read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs qm9pack")
def test_full_qm9_loads_and_reloads_from_cache(tmp_path):
    cfg = DataConfig(name="qm9", cache_dir=tmp_path)
    ds = load_dataset(cfg)
    assert ds.info["num_molecules"] == 130_831 and ds.report.skipped == 0
    assert {"N+", "O-"} <= set(ds.vocab.atom_types)
    again = load_dataset(cfg)
    assert again.info["cache"] == "hit" and torch.equal(again.train.adj, ds.train.adj)


def test_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path.*absent.smi"):
        load_dataset(config(tmp_path, path=tmp_path / "absent.smi"))


def test_named_qm9_without_qm9pack(tmp_path, monkeypatch):
    from molgen.data import sources

    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="qm9pack"):
        load_dataset(DataConfig(name="qm9", cache_dir=tmp_path))
    assert "qm9pack" not in sys.modules  # never imported: its __init__ is broken


def test_limit_reads_only_the_first_smiles_and_has_its_own_cache(tmp_path):
    path = write(tmp_path, "CCO\nc1ccccc1\nCC(=O)O\nCCN\nC#N\n")
    limited = load_dataset(config(tmp_path, path=path, limit=3, val_fraction=0, test_fraction=0))
    assert limited.report.read == 3 and limited.info["cache"] == "built"
    assert sorted(limited.train.smiles) == sorted(["CCO", "c1ccccc1", "CC(=O)O"])
    full = load_dataset(config(tmp_path, path=path, val_fraction=0, test_fraction=0))
    assert full.report.read == 5 and full.info["cache"] == "built"
    assert full.info["cache_file"] != limited.info["cache_file"]


@pytest.mark.skipif(importlib.util.find_spec("moses") is None, reason="needs molsets")
def test_moses_first_molecules_load_as_configured(tmp_path):
    import gzip

    from molgen.config import load_config
    from molgen.data import moses_train_file

    overrides = [f"data.cache_dir={tmp_path}", "data.limit=400"]
    cfg = load_config(REPO / "configs" / "moses_atoms.yaml", overrides).data
    ds = load_dataset(cfg)
    assert ds.report.read == 400 and ds.report.skipped == 0  # MOSES is within its filters
    assert ds.vocab.atom_types == ("C", "N", "S", "O", "F", "Cl", "Br")
    assert ds.vocab.bond_types == ("SINGLE", "DOUBLE", "TRIPLE") and ds.vocab.max_atoms == 27
    with gzip.open(moses_train_file(), "rt") as f:
        lines = [line.strip() for _, line in zip(range(401), f, strict=False)][1:]
    expected = sorted(canonical_smiles(Chem.MolFromSmiles(s)) for s in lines)
    splits = (ds.train, ds.val, ds.test)
    assert sorted(s for split in splits for s in split.smiles) == expected
    assert [len(split) for split in splits] == [360, 20, 20]
    assert decode(ds.train.x.long(), ds.train.adj.long(), ds.vocab) == ds.train.smiles
    assert load_dataset(cfg).info["cache"] == "hit"


def test_a_dummy_atom_line_is_skipped_with_its_line(tmp_path):
    path = write(tmp_path, "CCO\nCN\n" * 100 + "*C\n")
    ds = load_dataset(config(tmp_path, path=path, val_fraction=0, test_fraction=0))
    assert ds.report.kept == 200 and ds.report.counts["unparseable"] == 1
    assert ds.report.examples["unparseable"][0][:3] == ("mols.smi", 201, "*C")
    with pytest.raises(ValueError, match=r"mols\.smi:201: dummy atom"):
        load_dataset(config(tmp_path, path=path, strict=True))


def test_bad_text_gzip_and_huge_molecules_are_skipped_before_rdkit(tmp_path, monkeypatch):
    import molgen.chem.mol

    path = tmp_path / "mols.smi.gz"
    lines = [b"CCO", "CC\u00d6".encode(), b"\x00CN", b"CC\xffO", b"C" * 1500, b"CCN\r"]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    canonicalised = []
    real = molgen.chem.mol.canonical_smiles
    monkeypatch.setattr(
        molgen.chem.mol,
        "canonical_smiles",
        lambda m: canonicalised.append(m.GetNumAtoms()) or real(m),
    )
    report = load_dataset(config(tmp_path, path=path, val_fraction=0, test_fraction=0)).report
    assert report.kept == 2 and report.counts["too_large"] == 1
    assert [e[1] for e in report.examples["unparseable"]] == [2, 3, 4]
    assert "not UTF-8" in report.examples["unparseable"][2][3]
    assert report.examples["too_large"][0][1] == 5
    assert max(canonicalised) == 3  # the 1,500-atom chain never reached RDKit's SMILES writer


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.smi", b""),
        ("bad.smi", b"xx\nC(\n"),
        ("empty.smi.gz", gzip.compress(b"")),
    ],
)
def test_no_molecule_error_names_the_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"(?s)vocabulary.*{name.replace('.', '[.]')}: read"):
        load_dataset(config(tmp_path, path=path))


def test_train_skips_lines_no_graph_can_hold_with_file_and_line(tmp_path, caplog):
    from typer.testing import CliRunner

    from molgen.cli import app

    good = [r.smiles for r in read_smiles(bundled_path("qm9_5k"))[:40]]
    hostile = ["[C+10]", "C~C", "C(" * 60_000]  # no element left; no bond type; too long
    path = write(tmp_path, "\n".join(good[:20] + hostile + good[20:]) + "\n")
    args = ["train", "configs/debug.yaml", "data.name=null", f"data.path={path}",
            f"data.cache_dir={tmp_path / 'cache'}", "train.steps=2", "train.eval_every=2",
            "train.checkpoint_every=2", "--out", str(tmp_path / "run"),
            "--no-progress"]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="molgen.data"):
        result = CliRunner().invoke(app, args, env={"WANDB_MODE": "disabled"})
    assert result.exit_code == 0, result.output
    assert "mols.smi:21: '[C+10]': atom type 'C+10': charge +10 leaves no element" in caplog.text
    assert (
        "mols.smi:22: 'C~C': a bond that is not single, double, triple or aromatic" in caplog.text
    )
    assert "mols.smi:23: 'C(C(" in caplog.text
    assert "...': a SMILES longer than 100,000 characters" in caplog.text
    assert len(caplog.text) < 10_000  # the long line is not quoted whole
    assert len((tmp_path / "run" / "train.smi").read_text().split()) <= 40
