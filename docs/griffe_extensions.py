"""Griffe extension for the API reference: document each object once, in its own module.

A package such as ``molgen.nn`` re-exports names from its modules (``__all__``); without this,
the reference would render ``molgen.nn.GumbelSoftmax`` and ``molgen.nn.gumbel.GumbelSoftmax``
twice over. Re-exports of objects defined inside the same package are dropped from the package's
page (the package docstring says what it exports); names brought in from elsewhere stay.
"""

from __future__ import annotations

from typing import Any

import griffe


class DocumentAtHome(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._drop_reexports(pkg)

    def _drop_reexports(self, module: griffe.Module) -> None:
        for name, member in list(module.members.items()):
            if member.is_alias:
                if member.target_path.startswith(module.path + ".") and not member.is_module:
                    module.del_member(name)
            elif member.is_module:
                self._drop_reexports(member)
