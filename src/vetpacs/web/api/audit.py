"""``/api/v1/audit``: the audit log for administrators (``audit:read``), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from vetpacs.auth import Actor, Permission
from vetpacs.auth.audit import query_audit
from vetpacs.auth.schemas import AuditRead
from vetpacs.web.deps import archive_of, audit, require

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=list[AuditRead])
def list_audit(
    request: Request,
    actor: Auditor,
    actor_name: Annotated[str | None, Query(alias="actor", description="Username, exactly.")] = None,
    action: Annotated[
        str | None, Query(description="Action, exactly (`login.failed`) or a prefix with `*` (`login*`).")
    ] = None,
    object_type: Annotated[str | None, Query(description="`user`, `token`, `study`, `route`...")] = None,
    object_id: Annotated[str | None, Query(description="The object's id (username, UID...).")] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601; UTC if naive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601; UTC if naive).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditRead]:
    """Audit rows matching every given filter, newest first (rows still queued are written first)."""
    audit(request).flush(timeout=5.0)
    return query_audit(
        archive_of(request),
        actor=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
