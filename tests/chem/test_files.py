import gzip

import pytest

from molgen.chem.files import first_field, read_lines
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
