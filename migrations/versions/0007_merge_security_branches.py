"""merge security branches

Revision ID: 0007
Revises: 0003, 0004, 0005, 0006
Create Date: 2026-11-25 15:54:56.729949
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | tuple[str, ...] | None = ('0003', '0004', '0005', '0006')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
