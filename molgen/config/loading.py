"""Reading a config: a YAML file and dotted ``key=value`` overrides validated into a
:class:`~molgen.config.experiment.Config`, every problem a one-line :class:`ConfigError` naming
the file or override and the key; and writing one back (:func:`to_yaml`)."""

from __future__ import annotations

import difflib
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from molgen.config.experiment import Config
from molgen.config.safe_yaml import _parse_yaml, _yaml_problem
from molgen.errors import MolgenError


class ConfigError(MolgenError, ValueError):
    """A configuration file or override that does not validate."""


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """All dotted keys a model accepts, nested models included."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_valid_keys(annotation, dotted + "."))
    return keys


def _closest(key: str) -> str:
    if len(key) > QUOTED_CHARS:  # no key is this long; matching it would take long
        return ""
    match = difflib.get_close_matches(key, _valid_keys(Config), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    """``('generator', 'hidden', 0)`` -> ``generator.hidden[0]``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _set_by(key: str, overrides: dict[str, str]) -> str | None:
    """The override that set ``key`` or a section above it, if any."""
    for prefix in sorted(overrides, key=len, reverse=True):
        if key == prefix or key.startswith((prefix + ".", prefix + "[")):
            return f"override {_quoted(overrides[prefix])}"
    return None


def _format_errors(err: ValidationError, source: str, overrides: dict[str, str]) -> str:
    """One line per error, naming the override that set the key, else the file."""
    lines = []
    for e in err.errors():
        key = _dotted(e["loc"])
        where = _set_by(key, overrides) or source
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'{_closest(key)}")
            continue
        # A ValueError of ours says it all, without pydantic's "Value error, " in front.
        message = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
        # A cross-field check's input is its whole section: the message names the fields.
        shown = e["type"] != "missing" and not isinstance(e["input"], dict)
        got = f" (got {e['input']!r})" if shown else ""
        # A check across sections names its keys in the message.
        lines.append(f"{where}: {key + ': ' if key else ''}{message}{got}")
    return "\n".join(lines)


#: Characters of an override quoted in a message; a longer one is cut, with its length.
QUOTED_CHARS = 100


def _quoted(text: str) -> str:
    """``'text'``, cut to :data:`QUOTED_CHARS` characters: a message stays one short line."""
    if len(text) <= QUOTED_CHARS:
        return f"'{text}'"
    return f"'{text[:QUOTED_CHARS]}...' ({len(text):,} characters)"


def _override_key(item: str) -> str:
    return item.partition("=")[0].strip()


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML scalars/lists.

    Types are checked afterwards by pydantic, so ``train.batch_size=abc`` fails validation with
    the key named; a key that does not exist fails with the closest valid key suggested, a value
    that is not YAML or a key below something that is not a section fails naming the override.
    """
    valid = set(_valid_keys(Config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = _override_key(item)
        if not sep or not key:
            raise ConfigError(f"override {_quoted(item)} is not of the form key=value")
        if key not in valid:
            raise ConfigError(
                f"override {_quoted(item)}: unknown key {_quoted(key)}{_closest(key)}"
            )
        *parents, leaf = key.split(".")
        node = tree
        for depth, part in enumerate(parents):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                section = ".".join(parents[: depth + 1])
                raise ConfigError(
                    f"override {_quoted(item)}: {section} is {child!r}, not a section of keys"
                )
            node = child
        try:
            node[leaf] = _parse_yaml(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = _yaml_problem(exc, position=False)
            raise ConfigError(
                f"override {_quoted(item)}: value is not valid YAML: {problem}"
            ) from None
    return tree


def _file_kind(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file (``"a directory"``, ``"a named pipe
    (FIFO), not a file"``, ``"a device, not a file"``, ...), None when nothing is there."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def _read_tree(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; any problem is a :class:`ConfigError` naming the file."""
    if not path.is_file():
        kind = _file_kind(path)
        raise ConfigError(
            f"config file not found: {path}" if kind is None else f"config file {path} is {kind}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    try:
        tree = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config sections")
    return tree


def _check_data_path(path: Path | None, where: str, *, folder: bool = False) -> None:
    # Checked here, where users set it, not in DataConfig: a checkpoint's saved config must
    # still validate on a machine without the training file. Graphs may be a folder of files.
    if path is None or path.is_file() or (folder and path.is_dir()):
        return
    problem = "is a directory, not a file" if path.is_dir() else "does not exist"
    relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
    raise ConfigError(f"{where}: data.path: {path} {problem}{relative}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file (defaults when ``path`` is None), apply overrides, validate.

    Every problem is a :class:`ConfigError` with one line per error naming the file or the
    override, and the key.
    """
    source = str(path) if path is not None else "<defaults>"
    tree = _read_tree(Path(path)) if path is not None else {}
    overrides = list(overrides or [])
    if overrides:
        tree = apply_overrides(tree, overrides)
        source += " + overrides"
    set_by = {_override_key(item): item for item in overrides}
    try:
        cfg = Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, set_by)) from None
    where = _set_by("data.path", set_by) or source
    _check_data_path(cfg.data.path, where, folder=cfg.data.graphs)
    return cfg


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML (paths as strings), readable back by :func:`load_config`."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
