"""Every benchmark molgen evaluates with, by name: the one list that ``molgen evaluate
--benchmark`` offers and that a report's benchmark name is looked up in."""

from __future__ import annotations

from molgen.errors import InputError
from molgen.metrics.gdss import GDSS
from molgen.metrics.moses import MOSES
from molgen.metrics.suite import MOLGEN, Benchmark

__all__ = ["BENCHMARKS", "get_benchmark"]

#: Each benchmark under its name.
BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark for benchmark in (MOLGEN, MOSES, GDSS)
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name``; InputError listing the known names for another."""
    if name not in BENCHMARKS:
        raise InputError(f"benchmark: unknown {name!r}; known: {list(BENCHMARKS)}")
    return BENCHMARKS[name]
