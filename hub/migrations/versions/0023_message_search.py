"""message search indexes

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 10:00:00

The conversation list's search (`q`) finds conversations by their messages' text and an email's subject with
`lower(...) LIKE '%…%'`, which pg_trgm GIN indexes serve on PostgreSQL (0021 created the extension where the
database allows it). Without pg_trgm, and on SQLite, no index is made and search scans, bounded on PostgreSQL
by hub.search's statement timeout: a B-tree cannot serve a substring search, and message texts outgrow its
entries.
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

SEARCH_INDEXES = {
    'ix_message_text_search': 'lower(text)',
    'ix_message_subject_search': "lower(meta ->> 'subject')",
}


def _trigrams_installed() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == 'postgresql' and bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    ).first() is not None


def upgrade() -> None:
    if _trigrams_installed():
        for name, expression in SEARCH_INDEXES.items():
            op.execute(f'CREATE INDEX {name} ON message USING gin (({expression}) gin_trgm_ops) WITH (fastupdate = off)')


def downgrade() -> None:
    for name in SEARCH_INDEXES:
        op.execute(f'DROP INDEX IF EXISTS {name}')
