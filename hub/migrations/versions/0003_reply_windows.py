"""reply windows stored per conversation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:30:00

A customer's action grants a reply allowance that depends on the action (WeChat: 5 replies in
48 hours after a message, 3 in a minute after a menu click), so the window's end and the
replies left are kept on the conversation instead of a count since the last message.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_window_ends_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replies_remaining', sa.Integer(), nullable=True))
        batch_op.drop_column('replies_since_inbound')


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replies_since_inbound', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_column('replies_remaining')
        batch_op.drop_column('reply_window_ends_at')
