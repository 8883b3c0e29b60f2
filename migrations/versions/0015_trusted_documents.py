"""Trusted documents: the GraphQL operations first-party frontends registered, by SHA-256.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:42:24.363039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trusted_documents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_documents")),
    )
    with op.batch_alter_table("trusted_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_documents_client"), ["client"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trusted_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_documents_client"))
    op.drop_table("trusted_documents")
