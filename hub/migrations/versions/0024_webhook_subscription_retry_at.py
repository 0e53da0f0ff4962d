"""webhook subscription retry time

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 14:00:00

A subscription whose receiver fails waits as a whole until `retry_at`, when one delivery is tried again. Before,
each failed try pushed back the subscription's waiting delivery rows and every new delivery was due at once, so
a receiver down brought a job and a probe per dispatch, and those jobs queued on each other's row locks until
they held every worker thread the chat needed.
"""

from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_column('retry_at')
