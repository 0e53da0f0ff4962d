"""poll state

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 19:20:00

Pull channels (email): where each inbox's source is read from (the connector's cursor: UIDVALIDITY and last
UID) and whether it can be read (status shown on the inbox). And an index to find a sent message by its channel
id, so a customer's reply or a bounce naming our Message-ID finds its conversation.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SENT_WITH_CHANNEL_ID = "direction = 'out' AND channel_message_id IS NOT NULL"


def upgrade() -> None:
    op.create_table('poll_state',
    sa.Column('inbox_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inbox_id'], ['inbox.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('inbox_id')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(
            'ix_message_sent_channel_id', ['channel_message_id'], unique=False,
            postgresql_where=sa.text(SENT_WITH_CHANNEL_ID), sqlite_where=sa.text(SENT_WITH_CHANNEL_ID),
        )


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_sent_channel_id')
    op.drop_table('poll_state')
