"""The REST API under ``/api/v1``: accounts and sessions, users and tokens, the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from vetpacs.web.api import (
    audit,
    auth,
    billing,
    catalog,
    events,
    hl7,
    measurements,
    orders,
    partners,
    patients,
    reconciliation,
    reports,
    search,
    system,
    users,
)

PREFIX = "/api/v1"


def create_api_router() -> APIRouter:
    """Every REST router, to mount under :data:`PREFIX`."""
    router = APIRouter()
    router.include_router(auth.router)
    router.include_router(users.router)
    router.include_router(audit.router)
    for patients_router in patients.routers:
        router.include_router(patients_router)
    router.include_router(catalog.router)
    router.include_router(orders.router)
    router.include_router(billing.router)
    router.include_router(reconciliation.router)
    router.include_router(partners.router)
    router.include_router(hl7.router)
    router.include_router(measurements.router)
    router.include_router(reports.router)
    router.include_router(search.router)
    router.include_router(events.router)
    router.include_router(system.router)
    return router


__all__ = ["PREFIX", "create_api_router"]
