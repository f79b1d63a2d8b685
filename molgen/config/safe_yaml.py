"""YAML read safely: no arbitrary objects, a key given twice in one mapping refused, and a cap
on how far aliases may expand; problems are ``yaml.YAMLError``s, stated in one line."""

from __future__ import annotations

from typing import Any

import yaml


class _YAMLLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key given twice in one mapping (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` keys may be given again on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            if seen is not key_node:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} (first on line {seen.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


#: The most values (mappings, lists and scalars, an alias counted as all it stands for) a
#: config's YAML may expand to; a full config holds about a hundred. Aliases can make a
#: kilobyte expand to billions ("billion laughs"), which no validation or printing survives.
MAX_YAML_VALUES = 100_000


def _parse_yaml(text: str) -> Any:
    """The YAML document in ``text``, safely (no arbitrary objects, a key given twice refused,
    at most :data:`MAX_YAML_VALUES` values once aliases are expanded, nesting shallow enough
    for the parser); any problem is a ``yaml.YAMLError``."""
    loader = _YAMLLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply (lists or mappings inside each other)") from None
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the values ``root`` expands to, each shared (aliased) node counted once per use,
    without expanding anything; raise a ``yaml.YAMLError`` beyond :data:`MAX_YAML_VALUES` or
    for an alias inside its own anchor."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if not children_done:
            if id(node) in open_nodes:
                raise yaml.constructor.ConstructorError(
                    problem="an alias inside its own anchor (a value that contains itself)",
                    problem_mark=node.start_mark,
                )
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
            continue
        open_nodes.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[id(node)] > MAX_YAML_VALUES:
            raise yaml.constructor.ConstructorError(
                problem=f"aliases expand to more than {MAX_YAML_VALUES:,} values; a config "
                "holds far fewer",
                problem_mark=node.start_mark,
            )


def _yaml_problem(exc: yaml.YAMLError, position: bool = True) -> str:
    """One line: what is wrong and, with ``position``, where (line, column)."""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    mark = getattr(exc, "problem_mark", None)
    if position and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
