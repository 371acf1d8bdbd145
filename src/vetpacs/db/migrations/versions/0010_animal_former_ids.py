"""Former Patient IDs of animals (identifier changes, HL7 ADT^A47), so late images still link.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 07:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "animal_former_ids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("animal_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("issuer_of_patient_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["animal_id"],
            ["animals.id"],
            name=op.f("fk_animal_former_ids_animal_id_animals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_animal_former_ids")),
    )
    with op.batch_alter_table("animal_former_ids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_animal_former_ids_animal_id"), ["animal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_animal_former_ids_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("animal_former_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_animal_former_ids_patient_id"))
        batch_op.drop_index(batch_op.f("ix_animal_former_ids_animal_id"))
    op.drop_table("animal_former_ids")
