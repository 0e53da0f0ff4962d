"""webhook subscriptions and deliveries, scoped API tokens, idempotent requests

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-26 23:00:00

The outbox is read at last: a partial index finds the events not yet dispatched, and each leaves it once
dispatched. Subscriptions keep their signing secrets sealed; each event for a subscription is one delivery row
with its bounded attempt log. Integration tokens carry their scopes; POSTs with an Idempotency-Key keep their
first answer.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None

OUTBOX_UNDISPATCHED = "dispatched_at IS NULL"
WEBHOOK_DUE = "status = 'pending'"


def upgrade() -> None:
    # No subscription existed to want the events written so far: the dispatcher starts from what comes next.
    op.execute("UPDATE outbox_event SET dispatched_at = created_at WHERE dispatched_at IS NULL")
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_undispatched', ['id'], unique=False,
                              postgresql_where=sa.text(OUTBOX_UNDISPATCHED),
                              sqlite_where=sa.text(OUTBOX_UNDISPATCHED))
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.JSON(), nullable=True))
    op.create_table('webhook_subscription',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('previous_secret', sa.Text(), nullable=True),
    sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_subscription_listing', 'webhook_subscription', ['workspace_id', 'id'], unique=False)
    op.create_table('webhook_delivery',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('subscription_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('log', sa.JSON(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('give_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'event_id', name='uq_webhook_delivery_event')
    )
    op.create_index('ix_webhook_delivery_listing', 'webhook_delivery', ['subscription_id', 'id'], unique=False)
    op.create_index('ix_webhook_delivery_due', 'webhook_delivery', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text(WEBHOOK_DUE), sqlite_where=sa.text(WEBHOOK_DUE))
    op.create_table('idempotent_request',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', 'key', name='uq_idempotent_request')
    )


def downgrade() -> None:
    op.drop_table('idempotent_request')
    op.drop_index('ix_webhook_delivery_due', table_name='webhook_delivery',
                  postgresql_where=sa.text(WEBHOOK_DUE), sqlite_where=sa.text(WEBHOOK_DUE))
    op.drop_index('ix_webhook_delivery_listing', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_index('ix_webhook_subscription_listing', table_name='webhook_subscription')
    op.drop_table('webhook_subscription')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('scopes')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_undispatched', postgresql_where=sa.text(OUTBOX_UNDISPATCHED),
                            sqlite_where=sa.text(OUTBOX_UNDISPATCHED))
