"""workspace bot settings

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-26 19:30:00

One row per workspace for the bot's workspace-wide settings: the business's synonym groups (a change
bumps the knowledge-base version, so every process rebuilds its index) and the endpoints of the LLM
and external-webhook engines, their secrets sealed.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workspace_bot',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('synonyms', sa.JSON(), nullable=False),
    sa.Column('llm', sa.JSON(), nullable=False),
    sa.Column('webhook', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('workspace_id')
    )


def downgrade() -> None:
    op.drop_table('workspace_bot')
