"""Registering remote DICOM nodes (``vetpacs modality add|list|remove``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Engine, Table, delete, insert, select

from vetpacs.errors import Conflict, Invalid, NotFound
from vetpacs.nodes.models import DicomNode

NODES: Table = cast(Table, DicomNode.__table__)


@dataclass(frozen=True)
class NodeRead:
    """A registered remote AE."""

    name: str
    ae_title: str
    host: str
    port: int
    description: str = ""


def _validate(name: str, ae_title: str, host: str, port: int) -> None:
    if not name.strip():
        raise Invalid("a node needs a name")
    if not ae_title.strip() or len(ae_title) > 16 or "\\" in ae_title:
        raise Invalid(f"invalid AE title {ae_title!r} (1 to 16 characters, no backslash)")
    if not host.strip():
        raise Invalid("a node needs a host")
    if not 0 < port < 65536:
        raise Invalid(f"invalid port {port}")


def add_node(
    engine: Engine, *, name: str, ae_title: str, host: str, port: int, description: str = ""
) -> NodeRead:
    """Register a remote AE under ``name``; names are unique."""
    _validate(name, ae_title, host, port)
    with engine.begin() as conn:
        if conn.execute(select(NODES.c.id).where(NODES.c.name == name)).first() is not None:
            raise Conflict(f"a node named {name!r} already exists")
        conn.execute(
            insert(NODES).values(
                name=name,
                ae_title=ae_title.strip(),
                host=host.strip(),
                port=port,
                description=description,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    return NodeRead(name, ae_title.strip(), host.strip(), port, description)


def list_nodes(engine: Engine) -> list[NodeRead]:
    """Every registered node, by name."""
    with engine.connect() as conn:
        rows = conn.execute(select(NODES).order_by(NODES.c.name)).all()
    return [NodeRead(r.name, r.ae_title, r.host, r.port, r.description) for r in rows]


def remove_node(engine: Engine, name: str) -> None:
    """Forget the node called ``name``."""
    with engine.begin() as conn:
        result = conn.execute(delete(NODES).where(NODES.c.name == name))
    if result.rowcount == 0:
        raise NotFound(f"no node named {name!r}")


def node_for_ae(engine: Engine, ae_title: str) -> NodeRead | None:
    """The node registered with this AE title (C-MOVE destinations, commitment reports)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(NODES).where(NODES.c.ae_title == ae_title.strip()).order_by(NODES.c.id)
        ).first()
    return None if row is None else NodeRead(row.name, row.ae_title, row.host, row.port, row.description)
