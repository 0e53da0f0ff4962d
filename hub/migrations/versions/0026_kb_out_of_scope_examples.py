"""knowledge-base out-of-scope examples

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28 11:00:00

The business's own list of questions the bot must not answer: with the semantic re-ranker on, a question more
similar to one of them than to its most similar article is abstained on.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kb_out_of_scope_example',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'text', name='uq_kb_out_of_scope_example_text')
    )


def downgrade() -> None:
    op.drop_table('kb_out_of_scope_example')
