"""Indexes for the clinic search (``vetpacs.search``, docs/clinic-api.md)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000

- ``ix_studies_date_time_id`` (study_date, study_time, id): studies newest first without sorting,
  and date ranges read in that order;
- ``ix_owners_given_name_lower`` lower(given_name): the owner given-name prefix of the search box;
- on PostgreSQL, ``text_pattern_ops`` indexes on the studies' upper-cased Patient Name and
  Responsible Person, so ``LIKE 'SMITH%'`` is an index range scan under any collation (SQLite
  uses half-open ranges on the existing indexes).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PG_PATTERN_INDEXES = [
    ("ix_studies_patient_name_upper_pattern", "studies", "patient_name_upper"),
    ("ix_studies_responsible_person_upper_pattern", "studies", "responsible_person_upper"),
]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute("CREATE INDEX IF NOT EXISTS ix_studies_date_time_id ON studies (study_date, study_time, id)")
    pattern_ops = " text_pattern_ops" if pg else ""
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_owners_given_name_lower ON owners (lower(given_name){pattern_ops})"
    )
    if pg:
        for name, table, column in PG_PATTERN_INDEXES:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} text_pattern_ops)")


def downgrade() -> None:
    for name, _table, _column in PG_PATTERN_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP INDEX IF EXISTS ix_owners_given_name_lower")
    op.execute("DROP INDEX IF EXISTS ix_studies_date_time_id")
