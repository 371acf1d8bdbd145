"""Imports every domain model so ``Base.metadata`` knows all tables (used by Alembic)."""

from vetpacs.archive import models as archive_models
from vetpacs.auth import models as auth_models
from vetpacs.nodes import models as node_models

__all__ = ["archive_models", "auth_models", "node_models"]
