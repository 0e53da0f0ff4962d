"""agent shifts, conversation metrics for the reports, CSAT, handling spans

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-27 02:20:00

An agent's weekly shifts in their time zone (routing leaves them out off shift). On a conversation, what the
reports read as it happens: time spent in the queue, hand-overs, whether the bot replied, and the customer's
rating. A handling span per agent and conversation held gives each agent's average handle time.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0019'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shifts', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queue_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('handoffs', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('bot_replied', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('csat_rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('csat_comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('csat_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('handling_span',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('handling_span', schema=None) as batch_op:
        batch_op.create_index('ix_handling_span_workspace', ['workspace_id', 'started_at'], unique=False)
        batch_op.create_index('ix_handling_span_conversation', ['conversation_id', 'ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handling_span', schema=None) as batch_op:
        batch_op.drop_index('ix_handling_span_conversation')
        batch_op.drop_index('ix_handling_span_workspace')
    op.drop_table('handling_span')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        for column in ('csat_at', 'csat_comment', 'csat_rating', 'bot_replied', 'handoffs', 'queue_seconds',
                       'waiting_since'):
            batch_op.drop_column(column)
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_column('shifts')
