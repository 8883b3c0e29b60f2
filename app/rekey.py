"""Data-key rotation: a new active key in the keyring file, then every encrypted column
re-encrypted under it, in batches.

Each batch is one short transaction over rows in id order, and a row already under the active
key is skipped, so a rotation that stops half-way (a crash, Ctrl-C) is finished by running
``agora keys rotate-data --resume``. Old keys stay in the keyring: values not yet rewritten,
and backups, still decrypt. The email blind index is keyed apart from the data keys
(``app.security.blind_index``) and stays valid; legacy rows that still hold plain values are
sealed and indexed on the way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.identity.models import User
from app.identity.personal import reseal
from app.security.blind_index import IndexedFieldCipher
from app.security.clients import OAuthClient
from app.security.encryption import FieldCipher
from app.trade import buyer
from app.trade.models import Cart
from app.trade.order_models import Order

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "add_data_key",
    "count_encrypted_rows",
    "reencrypt",
    "replace_private",
]

DEFAULT_BATCH_SIZE = 500
# Must match app.security.clients: the AES-GCM context both signing-secret columns use.
_SIGNING_CONTEXT = "oauth_clients.signing_secret"


def replace_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (temp file, fsync, rename), readable by owner only."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def add_data_key(path: Path) -> FieldCipher:
    """Add a new active key to the keyring at ``path``, keeping every old one."""
    rotated = FieldCipher.from_json(path.read_text()).rotated()
    replace_private(path, rotated.to_json().encode())
    return rotated


def _reseal_client(client: OAuthClient, cipher: FieldCipher) -> bool:
    changed = False
    for column in ("signing_secret", "previous_signing_secret"):
        stored = getattr(client, column)
        if stored and cipher.key_id_of(stored) != cipher.active_kid:
            plain = cipher.decrypt(stored, context=_SIGNING_CONTEXT)
            setattr(client, column, cipher.encrypt(plain, context=_SIGNING_CONTEXT))
            changed = True
    return changed


@dataclass(frozen=True, slots=True)
class _Table:
    model: Any
    reseal: Callable[[Any], bool]


async def _batch(session: AsyncSession, table: _Table, after: int, size: int) -> tuple[int, int]:
    """Reseal up to ``size`` rows after id ``after``: (rows read, last id read)."""
    rows = (
        await session.scalars(
            select(table.model).where(table.model.id > after).order_by(table.model.id).limit(size)
        )
    ).all()
    for row in rows:
        table.reseal(row)
    return len(rows), rows[-1].id if rows else after


async def count_encrypted_rows(db: Database) -> int:
    async with db.reader() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, OAuthClient, Cart, Order)
        ]
    return sum(counts)


async def reencrypt(
    db: Database,
    cipher: FieldCipher,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    advance: Callable[[int], None] = lambda _: None,
) -> int:
    """Bring every encrypted value under ``cipher``'s active key. Returns the rows read;
    ``advance`` is told after each committed batch (for a progress bar)."""
    people = IndexedFieldCipher.of(cipher)
    tables = (
        _Table(User, lambda user: reseal(user, people)),
        _Table(OAuthClient, lambda client: _reseal_client(client, cipher)),
        _Table(Cart, lambda cart: buyer.reseal(cart, people)),
        _Table(Order, lambda order: buyer.reseal(order, people)),
    )
    total = 0
    for table in tables:
        after = 0
        while True:
            async with db.writer() as session, session.begin():
                read, after = await _batch(session, table, after, batch_size)
            total += read
            advance(read)
            if read < batch_size:
                break
    return total
