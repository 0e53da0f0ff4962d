"""inbound events retried with backoff and parked as dead

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 12:00:00

An event whose processing fails is tried again at `next_attempt_at`; after its last attempt it is
parked as `dead` (what `failed` meant before) for an admin to retry or discard. Parked events get
a partial index of their own: admins list them per workspace, /metrics counts them, and an event
that is processed never enters it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

INBOUND_PARKED = "status IN ('dead', 'discarded')"


def upgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_inbound_parked', ['workspace_id', 'status', 'id'], unique=False,
                              postgresql_where=sa.text(INBOUND_PARKED), sqlite_where=sa.text(INBOUND_PARKED))
    op.execute("UPDATE inbound_event SET status = 'dead' WHERE status = 'failed'")


def downgrade() -> None:
    op.execute("UPDATE inbound_event SET status = 'failed' WHERE status IN ('dead', 'discarded')")
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_parked')
        batch_op.drop_column('next_attempt_at')
