"""rate limit overrides

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-25 15:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_overrides",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_overrides")),
    )
    with op.batch_alter_table("rate_limit_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_limit_overrides_principal"), ["principal"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rate_limit_overrides_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_overrides_expires_at"))
        batch_op.drop_index(batch_op.f("ix_rate_limit_overrides_principal"))
    op.drop_table("rate_limit_overrides")
