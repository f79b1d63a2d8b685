import errno
import fcntl
import os
import stat
import time

import pytest

import molgen.io
from molgen.errors import InputError, OutputFault
from molgen.io import atomic_write, check_output_path, lock_folder, remove_stale_temporaries


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


def test_output_path_that_is_a_folder_or_under_a_file_is_the_users_mistake(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a folder"):
        atomic_write(tmp_path, lambda f: f.write(b"x"))
    with pytest.raises(InputError, match=f"{tmp_path / 'file'} is a file, not a folder"):
        check_output_path(tmp_path / "file" / "sub" / "out.smi")


def test_a_full_disk_is_a_fault_naming_the_path(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(molgen.io.os, "replace", disk_full)
    with pytest.raises(OutputFault) as fault:
        atomic_write(path, lambda f: f.write(b"new"))
    assert str(fault.value) == f"cannot write {path}: No space left on device"
    assert fault.value.errno == errno.ENOSPC and isinstance(fault.value, OSError)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_stale_temporaries_are_removed_live_and_young_ones_kept(tmp_path):
    old = time.time() - 2 * molgen.io.STALE_AFTER_S
    stale, young, live = (tmp_path / f".checkpoint.pt.{k}.tmp" for k in ("a", "b", "c"))
    for path in (stale, young, live):
        path.write_bytes(b"partial")
    os.utime(stale, (old, old))
    os.utime(live, (old, old))
    keep = tmp_path / "checkpoint.pt"
    keep.write_bytes(b"whole")
    os.utime(keep, (old, old))
    with open(live, "rb") as writer:  # a writer still holds it
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [young.name, live.name, "checkpoint.pt"]
    )


def test_a_locked_folder_refuses_a_second_holder_until_released(tmp_path):
    folder = tmp_path / "run"
    # flock locks belong to an open file: a second open is a second holder, as in another
    # process
    in_use = rf"{folder} is in use by molgen process {os.getpid()}"
    with lock_folder(folder), pytest.raises(InputError, match=in_use), lock_folder(folder):
        pass
    with lock_folder(folder):  # released at the end of the block
        pass
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(InputError, match="cannot use .*file as a run folder"),
        lock_folder(tmp_path / "file"),
    ):
        pass


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


def test_atomic_write_gives_the_mode_a_plain_open_gives(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    atomic = atomic_write(tmp_path / "atomic.bin", lambda f: f.write(b"x"))
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_check_distinct_paths_names_both_files(tmp_path):
    from molgen.io import check_distinct_paths

    source = tmp_path / "in.smi"
    source.write_text("CCO\n")
    (tmp_path / "link").symlink_to(source)
    os.link(source, tmp_path / "hard")
    for alias in (source, tmp_path / "link", tmp_path / "hard", tmp_path / "sub" / ".." / "in.smi"):
        with pytest.raises(InputError, match=rf"--out {alias} is the input {source}"):
            check_distinct_paths({"--out": alias}, {"the input": source})
    with pytest.raises(InputError, match="are one file"):
        check_distinct_paths({"a": tmp_path / "x", "b": tmp_path / "x"}, {})
    check_distinct_paths({"--out": tmp_path / "out.smi", "--image": None}, {"the input": source})
