"""Billing: the fee list and charges (docs/billing.md); the billing consumer's outbox cursor.

The cursor starts at the newest outbox event: charges are posted for procedures performed after
the upgrade, not for the whole history (the missed-charge report lists older unbilled orders).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 06:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fee_code", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_items")),
        sa.UniqueConstraint("fee_code", name=op.f("uq_fee_items_fee_code")),
    )
    op.create_table(
        "charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("animal_id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("fee_code", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("procedure_key", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("posted_by", sa.String(length=64), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("voided_by", sa.String(length=64), nullable=False),
        sa.Column("voided_at", sa.DateTime(), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["animal_id"], ["animals.id"], name=op.f("fk_charges_animal_id_animals")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_charges_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("procedure_key", name=op.f("uq_charges_procedure_key")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charges_animal_id"), ["animal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_fee_code"), ["fee_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_posted_at"), ["posted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_charges_study_instance_uid"), ["study_instance_uid"], unique=False
        )
    # The billing consumer starts after the newest event: no charges for history.
    op.execute(
        "INSERT INTO outbox_cursors (name, last_event_id) "
        "SELECT 'billing', COALESCE(MAX(id), 0) FROM outbox_events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox_cursors WHERE name = 'billing'")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charges_study_instance_uid"))
        batch_op.drop_index(batch_op.f("ix_charges_status"))
        batch_op.drop_index(batch_op.f("ix_charges_posted_at"))
        batch_op.drop_index(batch_op.f("ix_charges_order_id"))
        batch_op.drop_index(batch_op.f("ix_charges_fee_code"))
        batch_op.drop_index(batch_op.f("ix_charges_animal_id"))
    op.drop_table("charges")
    op.drop_table("fee_items")
