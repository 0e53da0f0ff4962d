"""contact search indexes, contact tickets, erasure, masking settings, visitor journey

Revision ID: 0021
Revises: 0017
Create Date: 2026-11-27 02:30:00

Contact search by any part of a name reads a trigram index on PostgreSQL (pg_trgm, created here when the
database allows it; otherwise a plain index of the same name, and name search scans); search by an identity's
value, whatever its scope, reads ix_identity_value. The contact view lists tickets by contact. A contact erased
on request keeps its row, marked, as the anonymous owner of its conversations. A workspace keeps its masking
rules; a webhook subscription may ask for masked payloads. The pages a visitor's browser reports are kept per
contact (bounded), with its time zone and language.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def _trigrams_available() -> bool:
    """Whether pg_trgm exists or can be created (trusted since PostgreSQL 13: a database owner may)."""
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return False
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    with op.batch_alter_table('workspace') as batch:
        batch.add_column(sa.Column('masking', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('webhook_subscription') as batch:
        batch.add_column(sa.Column('mask_sensitive', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True))
        batch.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('page_view',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('contact_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('referrer', sa.Text(), nullable=True),
    sa.Column('viewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_page_view_contact', 'page_view', ['contact_id', 'id'], unique=False)
    if _trigrams_available():
        op.create_index('ix_contact_name_trgm', 'contact', ['name'], unique=False,
                        postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    else:
        op.create_index('ix_contact_name_trgm', 'contact', ['name'], unique=False)
    op.create_index('ix_identity_value', 'identity', ['workspace_id', 'value'], unique=False)
    op.create_index('ix_ticket_contact', 'ticket', ['contact_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_contact', table_name='ticket')
    op.drop_index('ix_identity_value', table_name='identity')
    op.drop_index('ix_contact_name_trgm', table_name='contact')
    op.drop_index('ix_page_view_contact', table_name='page_view')
    op.drop_table('page_view')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('erased_at')
        batch.drop_column('language')
        batch.drop_column('time_zone')
    with op.batch_alter_table('webhook_subscription') as batch:
        batch.drop_column('mask_sensitive')
    with op.batch_alter_table('workspace') as batch:
        batch.drop_column('masking')
