"""Database: engine, sessions, declarative Base and Alembic migrations (SQLite and PostgreSQL)."""

from vetpacs.db.base import Base
from vetpacs.db.engine import make_engine, migrate

__all__ = ["Base", "make_engine", "migrate"]
