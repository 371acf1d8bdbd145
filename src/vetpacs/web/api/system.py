"""``/api/v1/modalities`` (DICOM destinations) and ``/api/v1/system`` (the status page), for admins.

Both need ``system:manage``. Modalities are the remote AEs ``vetpacs modality add|list|remove``
manage (``vetpacs.nodes``): C-MOVE destinations and storage commitment report targets. Adding and
removing are audited (``modality.added``, ``modality.removed``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from vetpacs.auth import Actor, Permission
from vetpacs.nodes import service as nodes
from vetpacs.status import SystemStatus, system_status
from vetpacs.web.deps import archive_of, audit, client_address, require, settings_of

router = APIRouter(tags=["system"])
Manager = Annotated[Actor, Depends(require(Permission.SYSTEM_MANAGE))]


class ModalityCreate(BaseModel):
    """A remote DICOM node: where C-MOVE sends images (and commitment reports go)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")
    ae_title: str = Field(min_length=1, max_length=16, pattern=r"^[ -\[\]-~]*[!-\[\]-~][ -\[\]-~]*$")
    host: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:\-\[\]%]+$")
    port: int = Field(ge=1, le=65535)
    description: str = Field(default="", max_length=255)


class ModalityRead(BaseModel):
    name: str
    ae_title: str
    host: str
    port: int
    description: str = ""


@router.get("/modalities", response_model=list[ModalityRead])
def list_modalities(request: Request, actor: Manager) -> list[ModalityRead]:
    """Every registered DICOM destination, by name."""
    return [ModalityRead(**asdict(n)) for n in nodes.list_nodes(archive_of(request).engine)]


@router.post(
    "/modalities",
    response_model=ModalityRead,
    status_code=201,
    responses={409: {"description": "A modality with this name exists."}},
)
def add_modality(body: ModalityCreate, request: Request, actor: Manager) -> ModalityRead:
    """Register a DICOM destination (409 for a taken name, 422 for a bad AE title or port)."""
    node = nodes.add_node(
        archive_of(request).engine,
        name=body.name,
        ae_title=body.ae_title,
        host=body.host,
        port=body.port,
        description=body.description,
    )
    audit(request).record(
        actor,
        "modality.added",
        object_type="modality",
        object_id=node.name,
        detail={"ae_title": node.ae_title, "host": node.host, "port": node.port},
        address=client_address(request),
    )
    return ModalityRead(**asdict(node))


@router.delete("/modalities/{name}", status_code=204, response_class=Response)
def remove_modality(name: str, request: Request, actor: Manager) -> Response:
    """Forget a DICOM destination (404 when there is none by that name)."""
    nodes.remove_node(archive_of(request).engine, name)
    audit(request).record(
        actor, "modality.removed", object_type="modality", object_id=name, address=client_address(request)
    )
    return Response(status_code=204)


@router.get("/system", response_model=SystemStatus)
def get_system(request: Request, actor: Manager) -> SystemStatus:
    """Version, database and storage state, counts, listener ports and uptime."""
    return system_status(archive_of(request), settings_of(request))
