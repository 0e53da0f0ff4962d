"""mentions

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28 02:00:00

An agent named as "@Their Name" in an internal note gets a mention row, kept until they open the conversation:
the mark reaches them at their next sign-in, not only when their inbox was open as the note was written.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mention',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('note_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('author_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('note_id', 'agent_id', name='uq_mention_note_agent')
    )
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.create_index('ix_mention_agent', ['agent_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_index('ix_mention_agent')
    op.drop_table('mention')
