import os

import pytest

import molgen.io
from molgen.io import atomic_write


def test_atomic_write_replaces_and_fsyncs_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc") else None)
        real_fsync(fd)

    monkeypatch.setattr(molgen.io.os, "fsync", fsync)
    path = tmp_path / "sub" / "data.bin"
    assert atomic_write(path, lambda f: f.write(b"old")) == path
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["data.bin"]
    if os.path.exists("/proc"):
        assert synced == [False, True, False, True]  # the file, then its folder, each write


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "data.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def crash(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, crash)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_staged_files_replace_a_set_together_or_not_at_all(tmp_path):
    from molgen.io import StagedFiles

    a, b, c = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.png"
    for path in (a, b, c):
        path.write_text("old")
    with pytest.raises(KeyboardInterrupt), StagedFiles([a, b, c]) as staged:
        staged.path(a).write_text("new")
        staged.path(b).write_text("partial")
        raise KeyboardInterrupt
    assert [p.read_text() for p in (a, b, c)] == ["old", "old", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json", "r.png"]
    # a killed writer's temporary file is removed by the next set
    orphan = tmp_path / ".r.99999.partial.csv"
    orphan.write_text("left by kill -9")
    with StagedFiles([a, b, c]) as staged:
        assert not orphan.exists()
        staged.path(a).write_text("new")
        staged.path(b).write_text("new")
        staged.commit()
    assert [a.read_text(), b.read_text(), c.exists()] == ["new", "new", False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]
