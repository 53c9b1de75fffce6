"""``filerelay rules``: check a config without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from filerelay.actions.registry import default_registry
from filerelay.cli.common import Exit, load_checked, settings_for
from filerelay.cli.explain import explain_path, render
from filerelay.config import ActionCatalog
from filerelay.config.reference import json_schema, markdown_reference
from filerelay.routing import Router

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
        steps = " -> ".join(_describe(step) for step in route.steps)
        stop = " (stop)" if route.stop else ""
        typer.echo(f"  route {route.name}: {steps}{stop}")
        if route.on_failure:
            fallback = " -> ".join(_describe(step) for step in route.on_failure)
            typer.echo(f"    on failure: {fallback}")


def _describe(step: Any) -> str:
    if step.action == "parallel":
        return "parallel(" + ", ".join(_describe(c) for c in step.children) + ")"
    return f"{step.action}[{step.name}]" if step.name else step.action


@app.command("explain")
def explain(
    config: Path = typer.Argument(..., help="Pipeline YAML."),
    paths: list[str] = typer.Argument(..., help="Files to explain."),
) -> None:
    """For each file: its source and MIME type, which routes match, and for each route that
    does not, the first condition that failed. Runs nothing; exit 2 if a path is unusable.

    Example: filerelay rules explain pipeline.yaml /data/camera/2024/clip.mp4
    """
    settings = settings_for(config)
    model = load_checked(settings).model
    router = Router(model.routes)  # type: ignore[attr-defined]
    failed = False
    for raw in paths:
        result = explain_path(model, router, raw)
        failed = failed or result.error is not None
        for line in render(result):
            typer.echo(line, err=result.error is not None)
    if failed:
        raise typer.Exit(int(Exit.USAGE))


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the config file (for editor completion).

    Example: filerelay rules schema > filerelay.schema.json
    """
    typer.echo(json_schema(ActionCatalog.from_registry(default_registry())))


@app.command("reference")
def reference() -> None:
    """Print the Markdown config reference (docs/configuration.md's, generated from the models)."""
    typer.echo(markdown_reference(ActionCatalog.from_registry(default_registry())), nl=False)
