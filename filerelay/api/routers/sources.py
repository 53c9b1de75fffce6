"""``sources``: the list with switches and counts, pause/resume, the directory tree."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import Source, SubmitIn, Submitted, Tree, TreeEntry, Uploaded
from filerelay.ops import sources as ops_sources
from filerelay.ops import upload as ops_upload
from filerelay.ops.deployment import Deployment
from filerelay.ops.upload import UploadTooLarge

router = APIRouter(tags=["sources"])

#: room for the multipart framing around the file in a request's declared length
MULTIPART_SLACK = 64 * 1024


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


@router.post("/sources/{name}/files", response_model=Uploaded, status_code=201)
def upload(
    name: str,
    request: Request,
    file: UploadFile = File(description="The file; its name is sanitised."),
    path: str = Form("", max_length=4096, description="Folder in the source."),
    principal: Principal = Depends(allowed("sources.upload")),
    dep: Deployment = Depends(deployment),
) -> Uploaded:
    """Upload a file into a source folder; the watcher then sends it through the routes."""
    declared = request.headers.get("content-length", "")
    limit = dep.settings.api_max_upload_bytes
    if declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise UploadTooLarge(f"file: over the upload limit of {limit} bytes")
    done = ops_upload.upload(dep, principal.actor, name, file.filename or "", file.file, path)
    return Uploaded.model_validate(asdict(done))


@router.post("/submit", response_model=Submitted, status_code=202)
def submit(
    body: SubmitIn,
    principal: Principal = Depends(allowed("submit")),
    dep: Deployment = Depends(deployment),
) -> Submitted:
    """Send a file already in a source through the routes now, even if unchanged."""
    return Submitted.model_validate(asdict(ops_upload.submit_path(dep, principal.actor, body.path)))
