"""unified customer view

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-26 23:00:00

Contacts get a VIP level and agents' notes; a workspace names the region its customers' national phone
numbers are read in; unverified claims that match another contact become merge suggestions.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workspace') as batch:
        batch.add_column(sa.Column('default_region', sqlmodel.sql.sqltypes.AutoString(length=2), server_default='US', nullable=False))
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('vip_level', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('notes', sa.Text(), server_default='', nullable=False))
    op.create_table('merge_suggestion',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('contact_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('candidate_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['contact.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contact_id', 'candidate_id', name='uq_merge_suggestion')
    )
    op.create_index(op.f('ix_merge_suggestion_workspace_id'), 'merge_suggestion', ['workspace_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_merge_suggestion_workspace_id'), table_name='merge_suggestion')
    op.drop_table('merge_suggestion')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('notes')
        batch.drop_column('vip_level')
    with op.batch_alter_table('workspace') as batch:
        batch.drop_column('default_region')
