"""assignment: teams, skills, inbox routing settings, queue and answer-timeout times

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 23:05:00

Teams and their members, an agent's skills, an inbox's routing policy and external routing service,
and on a conversation its category, when it entered the queue, when its agent got it, and the agents
it was taken from for not answering.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('team',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name', name='uq_team_name')
    )
    op.create_table('team_member',
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('team_id', 'agent_id')
    )
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_member_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_member_workspace_id'), ['workspace_id'], unique=False)
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skills', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('routing_webhook', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('avoid_agent_ids', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('avoid_agent_ids')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('queued_at')
        batch_op.drop_column('category')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('routing_webhook')
        batch_op.drop_column('routing')
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_column('skills')
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_member_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_team_member_agent_id'))
    op.drop_table('team_member')
    op.drop_table('team')
