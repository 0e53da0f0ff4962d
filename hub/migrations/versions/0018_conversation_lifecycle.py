"""conversation lifecycle: snoozed until, the previous conversation, the inbox's reopen window

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 02:30:00

A snoozed conversation knows when it opens again (a partial index finds the due ones for the sweeper, another
the queued ones for each routing pass); a
conversation the customer started after the reopen window names the resolved one it follows; each inbox
says how long after resolving a customer's message still reopens (7 days unless changed).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

SNOOZED = "status = 'snoozed'"
QUEUED = "status = 'queued'"


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('previous_conversation_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_foreign_key('fk_conversation_previous', 'conversation', ['previous_conversation_id'], ['id'])
        batch_op.create_index('ix_conversation_snoozed', ['snoozed_until'], unique=False,
                              postgresql_where=sa.text(SNOOZED), sqlite_where=sa.text(SNOOZED))
        batch_op.create_index('ix_conversation_queued', ['workspace_id'], unique=False,
                              postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopen_window_hours', sa.Integer(), nullable=False, server_default='168'))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('reopen_window_hours')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_queued', postgresql_where=sa.text(QUEUED),
                            sqlite_where=sa.text(QUEUED))
        batch_op.drop_index('ix_conversation_snoozed', postgresql_where=sa.text(SNOOZED),
                            sqlite_where=sa.text(SNOOZED))
        batch_op.drop_constraint('fk_conversation_previous', type_='foreignkey')
        batch_op.drop_column('previous_conversation_id')
        batch_op.drop_column('snoozed_until')
