import csv
import gzip
import warnings

import pytest

from molgen.chem.files import (
    MAX_LINE_BYTES,
    BoundedLines,
    FileChangedWarning,
    first_field,
    open_text,
    read_lines,
)
from molgen.errors import InputError


def test_read_lines_strips_line_ends_keeps_bad_bytes_and_reads_gzip_by_magic(tmp_path):
    data = b"\xef\xbb\xbfCCO\r\nCC\xffO\n\nC\rC\nlast"
    plain = tmp_path / "a.smi"
    plain.write_bytes(data)
    expected = ["CCO", "CC\udcffO", "", "C\rC", "last"]
    assert list(read_lines(plain)) == expected
    hidden = tmp_path / "b.smi"  # gzip data under a plain name
    hidden.write_bytes(gzip.compress(data))
    assert list(read_lines(hidden)) == expected


@pytest.mark.parametrize("cut", [slice(None, -6), slice(None, 12)], ids=["truncated", "header"])
def test_corrupt_gzip_names_the_file(tmp_path, cut):
    path = tmp_path / "bad.smi.gz"
    path.write_bytes(gzip.compress(b"CCO\n" * 1000)[cut])
    with pytest.raises(InputError, match=r"bad\.smi\.gz: corrupt or truncated gzip"):
        list(read_lines(path))


def test_first_field_splits_on_ascii_spaces_and_tabs_only():
    assert first_field("  CCO\tethanol x") == "CCO"
    assert first_field(" \t ") == ""
    assert first_field("CC\x0bO name") == "CC\x0bO"  # other whitespace stays in the sample
    assert first_field("\x00CCO") == "\x00CCO"


def test_an_over_long_line_is_cut_and_the_rest_skipped_unread(tmp_path):
    long_smiles = "C" * (3 * MAX_LINE_BYTES)
    path = tmp_path / "long.smi"
    path.write_text(f"CCO\n{long_smiles}\nCCN name {'x' * 3 * MAX_LINE_BYTES}\nlast")
    lines = list(read_lines(path))
    assert len(lines) == 4
    assert lines[0] == "CCO" and lines[3] == "last"
    assert lines[1] == "C" * (MAX_LINE_BYTES + 1)  # still longer than any SMILES read
    assert first_field(lines[2]) == "CCN"  # a long name after a SMILES keeps the SMILES


def test_a_gzip_line_that_expands_without_end_is_cut_too(tmp_path):
    path = tmp_path / "bomb.smi"
    member = gzip.compress(b"\0" * (1 << 20))
    path.write_bytes(member * 8 + gzip.compress(b"\nCCO\n"))
    lines = list(read_lines(path))
    assert [len(line) for line in lines] == [MAX_LINE_BYTES + 1, 3] and lines[1] == "CCO"


def test_a_file_changed_while_it_is_read_warns(tmp_path):
    path = tmp_path / "gen.smi"
    path.write_text("CCO\n" * 1000)
    lines = read_lines(path)
    assert next(lines) == "CCO"
    with open(path, "r+") as f:  # truncated by another process meanwhile
        f.truncate(400)
    with pytest.warns(FileChangedWarning, match=r"gen\.smi changed while it was read"):
        list(lines)  # what was buffered before the cut is still read: hence the warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unchanged file reads without a warning
        assert len(list(read_lines(path))) == 100


def test_a_csv_record_longer_than_the_bound_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(f"smiles,name\nCCO,a\nCCN,{'x' * 64}\n")
    with open_text(path) as f:
        lines = BoundedLines(f, limit=40)
        reader = csv.reader(lines)
        assert next(reader) == ["smiles", "name"]
        lines.new_record()
        assert next(reader) == ["CCO", "a"]
        lines.new_record()
        with pytest.raises(csv.Error, match="a record longer than 40 characters"):
            next(reader)
