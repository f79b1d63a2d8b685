import importlib.util

import pytest

from molgen.choices import GRAPH_DATASETS
from molgen.data import Record, bundled_path, qm9pack_files, read_smiles, sources


def test_read_smi_skips_blank_lines_and_header_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("SMILES name\nCCO ethanol\n\n   \nc1ccccc1\tbenzene\nC1CC\n")
    assert read_smiles(path) == [
        Record("mols.smi", 2, "CCO"),
        Record("mols.smi", 5, "c1ccccc1"),
        Record("mols.smi", 6, "C1CC"),
    ]


def test_read_csv_finds_the_smiles_column_and_reports_first_line_of_a_record(tmp_path):
    path = tmp_path / "zinc.csv"
    # ZINC250k's CSV quotes SMILES with a trailing newline inside the field
    path.write_text('smiles,logP\n"CCO\n",0.1\n"CCN\n",0.2\n\n"C(",0.3\n')
    assert read_smiles(path) == [
        Record("zinc.csv", 2, "CCO"),
        Record("zinc.csv", 4, "CCN"),
        Record("zinc.csv", 7, "C("),
    ]


def test_read_csv_named_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,SMILES,Mol\n1,CC,x\n2,CO,y\n")
    assert [r.smiles for r in read_smiles(path, "Mol")] == ["x", "y"]
    assert [r.smiles for r in read_smiles(path)] == ["CC", "CO"]  # 'smiles' in any case


def test_read_csv_missing_column_names_the_file_and_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,structure\n1,CC\n")
    with pytest.raises(ValueError, match=r"data\.csv.*no 'smiles' column.*structure"):
        read_smiles(path)
    with pytest.raises(ValueError, match=r"smiles_column.*'mol'"):
        read_smiles(path, "mol")


def test_read_smi_rejects_a_column_name(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("CC\n")
    with pytest.raises(ValueError, match="smiles_column"):
        read_smiles(path, "smiles")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.smi"):
        read_smiles(tmp_path / "nope.smi")


def test_bundled_sample_exists_and_unknown_names_fail():
    assert bundled_path("qm9_5k").name == "qm9_5k.smi"
    with pytest.raises(ValueError, match="zinc"):
        bundled_path("zinc")


def test_qm9pack_missing_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'molgen\[qm9\]'"):
        qm9pack_files()


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs qm9pack")
def test_qm9pack_files_are_found_without_importing_the_package():
    files = qm9pack_files()
    assert [f.name for f in files] == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    assert all(f.stat().st_size > 10_000_000 for f in files)


needs_molsets = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None,
    reason="needs MOSES' data: pip install --no-deps molsets==0.3.1",
)


def test_dataset_names_are_the_ones_the_config_allows():
    from typing import get_args

    from molgen.config import DataConfig

    literal, none = get_args(DataConfig.model_fields["name"].annotation)
    assert none is type(None)
    assert sorted(get_args(literal)) == sorted(sources.DATASETS + GRAPH_DATASETS)
    assert set(sources.DATASETS) == set(sources.BUNDLED) | set(sources.PACKAGED)


@needs_molsets
def test_moses_train_file_is_read_without_importing_moses():
    import gzip
    import sys

    path = sources.moses_train_file()
    assert path.name == "train.csv.gz" and path.parent.name == "data"
    assert "moses" not in sys.modules  # its imports fail on current packages
    with gzip.open(path, "rt") as f:
        lines = [next(f).strip() for _ in range(4)]
    assert lines[0] == "SMILES"
    first = [record for record, _ in zip(sources.read_moses(), range(3), strict=False)]
    assert first == [Record("train.csv.gz", k + 2, s) for k, s in enumerate(lines[1:])]


def test_moses_without_molsets_names_the_install_command(monkeypatch):
    from molgen.errors import MissingExtraError

    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    for locate in (sources.moses_train_file, sources.read_moses):
        # the one error of the one locator: a user error (exit 2) giving the install command
        with pytest.raises(MissingExtraError, match=r"pip install --no-deps molsets==0\.3\.1"):
            locate()


def test_gzip_files_are_read_by_their_bytes_not_their_name(tmp_path):
    import gzip

    smi = tmp_path / "mols.smi.gz"
    smi.write_bytes(gzip.compress(b"SMILES\nCCO a\nc1ccccc1\n"))
    assert read_smiles(smi) == [
        Record("mols.smi.gz", 2, "CCO"),
        Record("mols.smi.gz", 3, "c1ccccc1"),
    ]
    csv_gz = tmp_path / "mols.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"id,smiles\n1,CCN\n"))
    assert read_smiles(csv_gz) == [Record("mols.csv.gz", 2, "CCN")]
    disguised = tmp_path / "plain.smi"  # gzip data without the suffix
    disguised.write_bytes(gzip.compress(b"CC\n"))
    assert read_smiles(disguised) == [Record("plain.smi", 1, "CC")]


def test_a_line_that_is_not_utf8_is_one_bad_record(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_bytes(b"CCO\nCC\xffO\n\xc3\x96CC\nCCN\r\n")
    assert read_smiles(path) == [
        Record("mols.smi", 1, "CCO"),
        Record("mols.smi", 2, "CC\udcffO"),
        Record("mols.smi", 3, "\u00d6CC"),
        Record("mols.smi", 4, "CCN"),
    ]


def test_csv_unterminated_quote_names_file_and_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('smiles,x\nCC,1\n"CCO,2\nCCN,3\n')
    with pytest.raises(ValueError, match=r"data\.csv:3: not valid CSV"):
        read_smiles(path)


def test_csv_quoted_newlines_inside_a_smiles_keep_the_rows_visible(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('smiles,x\n"CCO,1\nCCN",2\nCC,3\n')
    # the quoted field swallows a row; it is kept whole so that the loader reports it
    assert read_smiles(path) == [Record("data.csv", 2, "CCO,1\nCCN"), Record("data.csv", 4, "CC")]
