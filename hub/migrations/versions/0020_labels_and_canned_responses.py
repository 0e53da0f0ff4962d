"""conversation labels, canned responses, ticket comments

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 06:10:00

A conversation's labels: a JSON list on the conversation for its view, and one row per label for the list's
filter and the workspace's label counts. Canned responses: replies agents insert by a short code unique in the
workspace. Ticket comments, internal or sent to the customer.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('labels', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table('conversation_label',
    sa.Column('conversation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('conversation_id', 'label')
    )
    with op.batch_alter_table('conversation_label', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_label_workspace', ['workspace_id', 'label'], unique=False)
    op.create_table('canned_response',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('short_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'short_code', name='uq_canned_response_short_code')
    )

    op.create_table('ticket_comment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ticket_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('author_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('author_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_comment', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_comment_ticket', ['ticket_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_comment_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    op.drop_table('ticket_comment')
    op.drop_table('canned_response')
    with op.batch_alter_table('conversation_label', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_label_workspace')
    op.drop_table('conversation_label')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('labels')
