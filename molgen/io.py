"""Writing files so that a reader never sees a partial one, alone or as a set, and guarding
run folders."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from molgen.errors import InputError, OutputFault

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; folders are not guarded
    fcntl = None

__all__ = [
    "LOCK_NAME",
    "StagedFiles",
    "atomic_write",
    "check_distinct_paths",
    "check_output_path",
    "lock_folder",
    "remove_stale_temporaries",
    "writing",
]

#: The file in a folder that :func:`lock_folder` locks.
LOCK_NAME = ".molgen.lock"
#: Temporaries younger than this are never removed: a writer may have just created one.
STALE_AFTER_S = 60.0


def check_output_path(path: str | Path) -> Path:
    """Raise :class:`~molgen.errors.InputError` when ``path`` cannot be a file to write: it is
    a folder, or one of its parents is a file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    return path


def check_distinct_paths(
    outputs: Mapping[str, str | Path | None], inputs: Mapping[str, str | Path | None]
) -> None:
    """Raise :class:`~molgen.errors.InputError` naming both paths when an output is the same
    file as an input, or as another output, so that writing it would destroy what is read or
    what was just written. Each mapping goes from what a path is (``"--output"``,
    ``"the run's checkpoint"``) to the path; None entries are ignored. The same file is the same
    path once symbolic links and ``..`` are resolved, or, for existing files, the same inode
    (hard links)."""
    outs = [(what, Path(path)) for what, path in outputs.items() if path is not None]
    ins = [(what, Path(path)) for what, path in inputs.items() if path is not None]
    for k, (what, path) in enumerate(outs):
        for other_what, other in ins:
            if _same_file(path, other):
                raise InputError(
                    f"{what} {path} is {other_what} {other}: writing it would destroy it; "
                    "give another path"
                )
        for other_what, other in outs[:k]:
            if _same_file(path, other):
                raise InputError(
                    f"{what} {path} and {other_what} {other} are one file: one would "
                    "overwrite the other; give another path"
                )


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):  # one of them does not exist (yet)
        if os.path.samefile(a, b):
            return True
    return a.resolve() == b.resolve()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The mode ``open(path, "w")`` gives a new file: read once, as setting umask to read it is
#: not thread-safe.
_NEW_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(f)`` on a binary file, atomically and durably.

    ``write`` fills a temporary file in the same folder (so the rename never crosses file
    systems); the file is flushed and fsynced, renamed over ``path`` and the folder fsynced, so
    after a crash ``path`` holds either the old or the new content, never a mix. On any failure
    the temporary file is removed and ``path`` is untouched. Concurrent writers of the same
    content are harmless: the last rename wins. The temporary is locked while it is written, so
    :func:`remove_stale_temporaries` knows a live one from one a killed process left.

    Raises :class:`~molgen.errors.InputError` when ``path`` is a folder or under a file, and
    :class:`~molgen.errors.OutputFault` (an ``OSError``) naming ``path`` when the system refuses
    the write (no space, a read-only file system).
    """
    path = check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, _NEW_FILE_MODE)  # mkstemp's 0600 would hide outputs from other users
    except OSError as error:
        raise _fault(path, error) from error
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_EX)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, OutputFault):
            raise _fault(path, error) from error
        raise
    _fsync_folder(path.parent)
    return path


def _fault(path: Path, error: OSError) -> OutputFault:
    reason = error.strerror or str(error)
    return OutputFault(error.errno, f"cannot write {path}: {reason}")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process was
    killed (older than :data:`STALE_AFTER_S` and not locked by a live writer); returns them."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if time.time() - tmp.stat().st_mtime < STALE_AFTER_S:
                continue
            with open(tmp, "rb") as f:
                if fcntl is not None:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer holds it
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def lock_folder(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) until the block ends, or raise
    :class:`~molgen.errors.InputError` naming the folder and the process holding it. The lock
    is the operating system's (``flock``): it is released when the process ends, however it
    ends, so a crashed run never leaves its folder locked."""
    folder = Path(folder)
    if fcntl is None:
        yield folder
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 (held for the block)
    except (FileExistsError, NotADirectoryError) as error:
        raise InputError(f"cannot use {folder} as a {what} folder: {error.strerror}") from error
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise InputError(
                f"{folder} is in use by {holder}: one {what} at a time writes a folder "
                "(wait for it to finish, or pick another folder)"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"molgen process {os.getpid()}")
        f.flush()
        yield folder


def _fsync_folder(folder: Path) -> None:
    # the rename is durable only once the folder's entry is on disk; Windows cannot open folders
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedFiles:
    """A set of files written under temporary names and moved into place together.

    :meth:`path` gives the temporary name of a final path (``.STEM.PID.partial.SUFFIX`` in the
    same folder, so a writer that picks a format by suffix still does); :meth:`commit` fsyncs
    the files written and renames each over its final path, one after another, holding a lock
    on their folder so that two processes committing the same set never interleave, and
    removes the final paths of ``paths`` that were not written this time, so the files on disk
    are one complete set. Leaving the ``with`` block without a commit (an error, Ctrl-C)
    removes the temporary files and leaves the previous set untouched. Temporary files of an
    earlier process that was killed are removed when the next set for the same paths starts;
    those of a process still running are its own and left alone.

    Raises :class:`~molgen.errors.InputError` at once when a final path cannot be a file (a
    folder, a path under a file), and :class:`~molgen.errors.OutputFault` naming the final path
    when the system refuses a rename.
    """

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [check_output_path(p) for p in paths]
        self._staged: dict[Path, Path] = {}
        for final in self.paths:
            for orphan in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
                owner = orphan.name[len(final.stem) + 2 :].partition(".")[0]
                if owner.isdigit() and not _process_alive(int(owner)):
                    orphan.unlink(missing_ok=True)

    def path(self, final: str | Path) -> Path:
        final = Path(final)
        if final not in self.paths:
            raise ValueError(f"{final} is not one of the staged paths {self.paths}")
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = final.with_name(f".{final.stem}.{os.getpid()}.partial{final.suffix}")
        self._staged[final] = staged
        return staged

    def commit(self) -> None:
        written = {final: staged for final, staged in self._staged.items() if staged.is_file()}
        for final, staged in written.items():
            with writing(final), open(staged, "rb") as f:
                os.fsync(f.fileno())
        folders = sorted({final.parent for final in self.paths})
        with contextlib.ExitStack() as locks:
            for folder in folders:
                locks.enter_context(_folder_locked(folder))
            for final, staged in written.items():
                with writing(final):
                    os.replace(staged, final)
            for final in self.paths:
                if final not in written and final.is_file():
                    final.unlink()
            for folder in folders:
                _fsync_folder(folder)
        self._staged.clear()

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, *exc) -> None:
        for staged in self._staged.values():
            staged.unlink(missing_ok=True)
        self._staged.clear()


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block (no space, a read-only file system) into an
    :class:`~molgen.errors.OutputFault` naming ``path``, the file the user asked for (not a
    temporary name of it)."""
    try:
        yield
    except OSError as error:
        if isinstance(error, (OutputFault, InputError)):
            raise
        raise _fault(Path(path), error) from error


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier set of this very process, left by an error: ours to remove
    if os.name != "posix":  # Windows' os.kill(pid, 0) would end the process: keep its files
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder itself, waited for: held only while a set of files
    is moved into place, so a writer never waits long (and no lock file is left behind)."""
    if fcntl is None or os.name != "posix":
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
