import csv
import json

import pytest

from molgen.commands.evaluate import output_paths
from molgen.metrics import (
    METRICS,
    TABLE_COLUMNS,
    MoleculeTableWriter,
    evaluate,
    read_smiles_file,
    write_report,
)


def test_read_smiles_file_streams_first_tokens(tmp_path):
    path = tmp_path / "gen.smi"
    path.write_bytes(b"CCO ethanol\n\n  c1ccccc1\tbenzene\nC\xffC\n")
    lines = read_smiles_file(path)
    assert not isinstance(lines, list)  # a lazy iterator, for files of millions of lines
    # a byte that is not UTF-8 stays a lone surrogate: the sample is invalid ("encoding")
    assert list(lines) == ["CCO", "", "c1ccccc1", "C\udcffC"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "not a file"),
        (lambda p: (p.write_text(""), p)[1], "empty file"),
    ],
)
def test_read_smiles_file_errors_name_the_file(tmp_path, make, message):
    path = make(tmp_path / "x.smi")
    with pytest.raises(ValueError, match=message) as info:
        read_smiles_file(path)
    assert "x.smi" in str(info.value)


def test_report_json_markdown_and_csv(tmp_path):
    samples = ["CCO", "OCC", "xx|y", "C.C", "c1ccccc1O"]
    paths = output_paths(tmp_path / "report.json")
    with MoleculeTableWriter(paths["molecules"]) as table:
        evaluation = evaluate(samples, ["CCO", "CCN"], keep_table=False, on_rows=table)
    write_report(evaluation, paths["json"], head_rows=table.head)

    report = json.loads(paths["json"].read_text())
    expected_keys = set(METRICS) - {"fcd"} if "fcd" not in evaluation.metrics else set(METRICS)
    assert expected_keys <= set(report)
    assert report["validity"] == 0.6 and report["n_samples"] == 5
    assert report["scaf"] is None  # NaN (no 2-ring scaffold) is written as null
    assert report["invalid_reasons"] == {"parse": 1, "disconnected": 1}
    assert set(report["definitions"]) >= {"strict_valid", "canonical", "validity", "snn"}

    markdown = paths["markdown"].read_text()
    assert "| validity | 0.6000 |" in markdown
    assert "xx\\|y" in markdown  # a pipe in the input does not break the table

    with open(paths["molecules"]) as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == TABLE_COLUMNS
    assert rows[2][:5] == ["1", "OCC", "CCO", "True", ""]
    assert rows[4][4] == "disconnected"
