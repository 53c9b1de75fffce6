"""``filerelay rules``: check a config without running anything."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.actions.registry import default_registry
from filerelay.cli.common import load_checked, settings_for
from filerelay.config import ActionCatalog
from filerelay.config.reference import json_schema, markdown_reference

app = typer.Typer(help="Validate and inspect pipeline rules.", no_args_is_help=True)


@app.command("check")
def check(
    config: Path = typer.Argument(..., help="Pipeline YAML to validate."),
) -> None:
    """Validate CONFIG and print a summary; exit 0 if valid, 2 with every problem otherwise.

    Example: filerelay rules check pipeline.yaml
    """
    settings = settings_for(config)
    loaded = load_checked(settings)
    model = loaded.model
    typer.echo(f"{config}: ok (sha256 {loaded.sha256[:12]})")
    for src in model.sources:
        typer.echo(
            f"  source {src.name}: {src.path} (observer {src.observer}, silence {src.silence:g}s)"
        )
    for route in model.routes:  # type: ignore[attr-defined]
        steps = " -> ".join(step.action for step in route.steps)
        stop = " (stop)" if route.stop else ""
        typer.echo(f"  route {route.name}: {steps}{stop}")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the config file (for editor completion).

    Example: filerelay rules schema > filerelay.schema.json
    """
    typer.echo(json_schema(ActionCatalog.from_registry(default_registry())))


@app.command("reference")
def reference() -> None:
    """Print the Markdown config reference (the README's, generated from the models)."""
    typer.echo(markdown_reference(ActionCatalog.from_registry(default_registry())), nl=False)
