"""indexes for the inbound hot path

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:15:00

Processing looks up each sender's open conversation by identity, which had no index (every batch
scanned the conversation table). The pending-event and outbound-delivery indexes become partial:
an event leaves the first when processed and a received message never enters the second, so
the hub's most frequent writes no longer add entries to them. Identity, conversation and message
lose their workspace_id index: their unique or listing index already starts with workspace_id.
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INBOUND_PENDING = "status = 'pending'"
OUTBOUND_IN_FLIGHT = "status IN ('pending', 'sending')"
COVERED_WORKSPACE_INDEXES = ('identity', 'conversation', 'message')


def _where(condition: str) -> dict:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    for table in COVERED_WORKSPACE_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_workspace_id')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_open')
        batch_op.create_index('ix_conversation_identity', ['identity_id', 'status'], unique=False)
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_pending')
        batch_op.create_index('ix_inbound_pending', ['received_at'], unique=False, **_where(INBOUND_PENDING))
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_delivery')
        batch_op.create_index('ix_message_delivery', ['status', 'next_attempt_at'], unique=False,
                              **_where(OUTBOUND_IN_FLIGHT))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_delivery')
        batch_op.create_index('ix_message_delivery', ['status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_pending')
        batch_op.create_index('ix_inbound_pending', ['status', 'received_at'], unique=False)
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_identity')
        batch_op.create_index('ix_conversation_open', ['inbox_id', 'contact_id', 'status'], unique=False)
    for table in COVERED_WORKSPACE_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_workspace_id', ['workspace_id'], unique=False)
