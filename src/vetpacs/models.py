"""Imports every domain model so ``Base.metadata`` knows all tables (used by Alembic)."""

from vetpacs import events as event_models
from vetpacs.archive import models as archive_models
from vetpacs.auth import models as auth_models
from vetpacs.billing import models as billing_models
from vetpacs.integration import models as integration_models
from vetpacs.measurements import models as measurement_models
from vetpacs.nodes import models as node_models
from vetpacs.orders import models as order_models
from vetpacs.patients import models as patient_models
from vetpacs.reports import models as report_models

__all__ = [
    "archive_models",
    "auth_models",
    "billing_models",
    "event_models",
    "integration_models",
    "measurement_models",
    "node_models",
    "order_models",
    "patient_models",
    "report_models",
]
