"""webhook delivery claim index

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-27 10:00:00

A delivery job claims its subscription's pending deliveries in sequence order. Without this index the claim read
every pending delivery of every subscription through ix_webhook_delivery_due and sorted them, so a backlog cost
the database more per delivery the larger it was; with it the claim reads its batch in order and stops.
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0020'
branch_labels = None
depends_on = None

WEBHOOK_DUE = "status = 'pending'"


def upgrade() -> None:
    op.create_index('ix_webhook_delivery_claim', 'webhook_delivery', ['subscription_id', 'sequence'], unique=False,
                    postgresql_where=sa.text(WEBHOOK_DUE), sqlite_where=sa.text(WEBHOOK_DUE))


def downgrade() -> None:
    op.drop_index('ix_webhook_delivery_claim', table_name='webhook_delivery',
                  postgresql_where=sa.text(WEBHOOK_DUE), sqlite_where=sa.text(WEBHOOK_DUE))
