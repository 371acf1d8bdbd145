"""Alembic environment: runs against the Engine handed over by ``vetpacs.db.engine.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import vetpacs.models  # noqa: F401  (registers every table on Base.metadata)
from vetpacs.db.base import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
