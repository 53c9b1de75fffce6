"""``sources``: the list with switches and counts, pause/resume, the directory tree."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import Source, Tree, TreeEntry
from filerelay.ops import sources as ops_sources
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["sources"])


@router.get("/sources", response_model=list[Source])
def sources(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> list[Source]:
    """Every source: paused or not (and who paused it), events of the last 24 h, last file."""
    return [Source.model_validate(asdict(v)) for v in ops_sources.list_sources(dep)]


@router.post("/sources/{name}/pause", response_model=Source)
def pause(
    name: str,
    principal: Principal = Depends(allowed("sources.pause")),
    dep: Deployment = Depends(deployment),
) -> Source:
    """Hold the source's new files in its watcher until resumed."""
    return Source.model_validate(asdict(ops_sources.set_paused(dep, principal.actor, name, True)))


@router.post("/sources/{name}/resume", response_model=Source)
def resume(
    name: str,
    principal: Principal = Depends(allowed("sources.pause")),
    dep: Deployment = Depends(deployment),
) -> Source:
    """Release the files held while paused."""
    return Source.model_validate(asdict(ops_sources.set_paused(dep, principal.actor, name, False)))


@router.get("/sources/{name}/tree", response_model=Tree)
def tree(
    name: str,
    path: str = Query("", max_length=4096),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> Tree:
    """The folders and files directly under ``path``, each file with its last state."""
    entries = [TreeEntry.model_validate(asdict(e)) for e in ops_sources.tree(dep, name, path)]
    return Tree(source=name, path=path, entries=entries)
