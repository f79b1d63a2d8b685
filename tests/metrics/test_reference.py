import warnings

import numpy as np
import pytest

from molgen.metrics import Reference

REFERENCE = ["OCC", "c1ccccc1", "CC(=O)O", "CCN", "c1ccc2ccccc2c1", "C1CCCCC1", "CCCCO"]


def _statistics(reference: Reference) -> dict:
    return {
        "morgan": reference.feature("morgan"),
        "fragments": reference.counts("fragments"),
        "kl": reference.kl_statistics(),
    }


def _assert_same(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["morgan"], b["morgan"])
    assert a["fragments"] == b["fragments"]
    np.testing.assert_array_equal(a["kl"], b["kl"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"",  # empty
    ],
    ids=["truncated", "altered", "empty"],
)
def test_damaged_cache_entries_are_detected_named_and_rebuilt(tmp_path, damage):
    expected = _statistics(Reference.from_smiles(REFERENCE, cache_dir=tmp_path))
    entries = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.suffix for p in entries} == {".txt", ".npy", ".json"}
    for path in entries:
        path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(UserWarning) as caught:
        again = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
        _assert_same(_statistics(again), expected)
    warned = "\n".join(str(w.message) for w in caught)
    for path in entries:
        assert f"rebuilding the reference cache entry {path}" in warned
    # the rebuilt entries are trusted again: a third run warns about nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(_statistics(Reference.from_smiles(REFERENCE, cache_dir=tmp_path)), expected)


def test_an_entry_of_another_reference_is_not_trusted(tmp_path):
    first = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
    first.feature("qed")
    other = Reference.from_smiles(["CCO", "CCCC"], cache_dir=tmp_path)
    other.feature("qed")
    other_path = tmp_path / f"reference-{other.digest[:32]}" / "qed.npy"
    own = tmp_path / f"reference-{first.digest[:32]}" / "qed.npy"
    other_path.write_bytes(own.read_bytes())  # a valid entry, but of the first reference
    with pytest.warns(UserWarning, match="checksum differs"):
        values = Reference.from_smiles(["CCO", "CCCC"], cache_dir=tmp_path).feature("qed")
    assert len(values) == 2


def _rewrite_payload(path, change) -> None:
    """Replace an entry's payload by ``change(payload)``, keeping its (now wrong) checksum."""
    checksum, _, payload = path.read_bytes().partition(b"\n")
    path.write_bytes(checksum + b"\n" + change(payload))


def test_replaced_fragment_counts_and_a_truncated_canonical_list_are_rebuilt(tmp_path):
    expected = _statistics(Reference.from_smiles(REFERENCE, cache_dir=tmp_path))
    (counts,) = tmp_path.rglob("fragments_counts.json")
    _rewrite_payload(counts, lambda _: b'{"C": 1}')  # valid JSON, other counts
    (canonical,) = tmp_path.glob("canonical-*.txt")
    _rewrite_payload(canonical, lambda payload: b"\n".join(payload.splitlines()[:2]))
    with pytest.warns(UserWarning) as caught:
        again = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
        _assert_same(_statistics(again), expected)
    warned = "\n".join(str(w.message) for w in caught)
    assert f"rebuilding the reference cache entry {counts}: checksum differs" in warned
    assert f"rebuilding the reference cache entry {canonical}: checksum differs" in warned
    assert len(again) == len(REFERENCE)


def test_a_zeroed_fcd_mean_is_rebuilt(tmp_path):
    pytest.importorskip("fcd")
    from molgen.metrics.frechet import FrechetStats
    from molgen.metrics.reference import _encode_fcd

    expected = Reference.from_smiles(REFERENCE, cache_dir=tmp_path).fcd_stats()
    (entry,) = tmp_path.rglob("fcd.npz")
    zeroed = FrechetStats(np.zeros_like(expected.mean), expected.cov, expected.n)
    _rewrite_payload(entry, lambda _: _encode_fcd(zeroed))
    with pytest.warns(UserWarning, match=f"rebuilding the reference cache entry {entry}"):
        rebuilt = Reference.from_smiles(REFERENCE, cache_dir=tmp_path).fcd_stats()
    np.testing.assert_array_equal(rebuilt.mean, expected.mean)


def test_an_unreadable_entry_is_named_and_evaluation_goes_on(tmp_path):
    first = Reference.from_smiles(REFERENCE, cache_dir=tmp_path)
    expected = first.feature("qed")
    entry = tmp_path / f"reference-{first.digest[:32]}" / "qed.npy"
    entry.unlink()
    entry.mkdir()  # cannot be read, nor replaced
    with pytest.warns(UserWarning) as caught:
        values = Reference.from_smiles(REFERENCE, cache_dir=tmp_path).feature("qed")
    np.testing.assert_array_equal(values, expected)
    warned = "\n".join(str(w.message) for w in caught)
    assert f"rebuilding the reference cache entry {entry}" in warned
    assert f"cannot write the reference cache entry {entry}" in warned


def test_a_reference_of_a_datasets_canonical_smiles_equals_one_parsed_again():
    from molgen.chem import mol_graphs

    # As a dataset stores them: canonicalised once when loaded (explicit hydrogens, kekulé
    # forms, duplicates and a disconnected salt among them).
    raw = ["[H]OC([H])([H])C", "C1=CC=CC=C1", "c1ccccc1", "CCO", "[Na+].[Cl-]", "CC(=O)O", "OCC"]
    canonical = [graph.smiles for graph in mol_graphs(raw, canonical=True)]
    parsed = Reference.from_smiles(canonical)
    direct = Reference.from_canonical(canonical)
    assert direct.canonical == parsed.canonical == ("CCO", "c1ccccc1", "CC(=O)O")
    assert direct.digest == parsed.digest and direct.n_input == parsed.n_input == len(raw)
