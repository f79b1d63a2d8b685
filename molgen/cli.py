"""The `molgen` command line: thin calls into the library.

Subcommands take a YAML config plus dotted ``key=value`` overrides, e.g.
``molgen train configs/qm9_5k.yaml train.batch_size=64 temperature.schedule=cosine``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from molgen.config import ConfigError, load_config, to_yaml

app = typer.Typer(
    help="molgen: train molecule generators, sample them, evaluate any generator's molecules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect experiment configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@config_app.command("show")
def config_show(
    config: Path = typer.Argument(None, help="YAML experiment file (defaults when omitted)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
) -> None:
    """Print the resolved config (file + overrides + defaults) as YAML."""
    try:
        cfg = load_config(config, overrides or [])
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(to_yaml(cfg), nl=False)
