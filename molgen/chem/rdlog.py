"""RDKit's log, silenced only where molgen reports failures itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import rdBase

__all__ = ["rdkit_quiet"]


@contextmanager
def rdkit_quiet() -> Iterator[None]:
    """Block RDKit's log messages inside the block (nestable; the previous state returns after).

    Validity checks of arbitrary samples would otherwise print every sanitisation failure to
    stderr, while molgen reports a named reason per molecule instead. Outside such blocks RDKit
    logs as usual.
    """
    block = rdBase.BlockLogs()
    try:
        yield
    finally:
        del block
