"""personal data: users' email and phone encrypted, email found by a blind index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00

The email and phone columns now hold AES-GCM ciphertext (``v1.<kid>.<data>``), which is longer
than the values and random, so the unique constraint moves from ``email`` to ``email_index``
(HMAC of the lower-cased address). A migration has no access to the data keyring, so rows that
exist already get a placeholder index ``legacy:<id>`` and keep their plain values until
``agora keys rotate-data`` seals them. Downgrading restores the columns, not plain values.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_users_email", type_="unique")
        batch_op.alter_column(
            "email", existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=False
        )
        batch_op.alter_column(
            "phone", existing_type=sa.String(length=32), type_=sa.Text(), existing_nullable=True
        )
    op.execute("UPDATE users SET email_index = 'legacy:' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email_index", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_users_email_index", ["email_index"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_email_index", type_="unique")
        batch_op.drop_column("email_index")
        batch_op.alter_column(
            "phone", existing_type=sa.Text(), type_=sa.String(length=32), existing_nullable=True
        )
        batch_op.alter_column(
            "email", existing_type=sa.Text(), type_=sa.String(length=320), existing_nullable=False
        )
        batch_op.create_unique_constraint("uq_users_email", ["email"])
