"""`agora keys rotate-data`: a new active key, every encrypted value rewritten under it in
batches, old keys kept, the email index still valid, and legacy plain rows sealed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import Database
from app.identity.models import Shop, User
from app.identity.passwords import PasswordHashing
from app.identity.personal import email_of, phone_of
from app.identity.service import LockoutPolicy, authenticate, create_user
from app.migrate import upgrade
from app.rekey import add_data_key, reencrypt
from app.security.blind_index import IndexedFieldCipher
from app.security.clients import OAuthClient, register_client, signing_secrets
from app.security.encryption import FieldCipher, load_or_create_keyring
from app.trade import buyer
from app.trade.models import Cart
from app.trade.order_models import Order, PaymentMethod
from tests.support.trade import BERLIN

PASSWORD = "correct horse battery"
POLICY = LockoutPolicy(5, timedelta(minutes=5))
BUYER_EMAIL = "buyer@example.com"


async def _populate(db: Database, cipher: FieldCipher, hashing: PasswordHashing) -> list[str]:
    people = IndexedFieldCipher.of(cipher)
    emails = [f"user{n}@example.com" for n in range(5)]
    async with db.writer() as session, session.begin():
        for n, email in enumerate(emails):
            phone = f"+8613800000{n:03d}" if n % 2 else None
            await create_user(session, hashing, people, email=email, password=PASSWORD, phone=phone)
        await register_client(session, cipher, name="App", scopes=["goods:read"])
        await _buyer_records(session, people)
    return emails


async def _buyer_records(session: AsyncSession, people: IndexedFieldCipher) -> None:
    """A cart and an order holding a buyer's sealed email, phone and street."""
    shop = Shop(handle="rekey", name="Rekey", currency="EUR")
    session.add(shop)
    await session.flush()
    email, phone = buyer.seal_contact(buyer.Contact(BUYER_EMAIL, "+4930123456"), people)
    address = buyer.seal_address(BERLIN, people)
    session.add(
        Cart(
            shop_id=shop.id,
            currency="EUR",
            sealed_email=email,
            sealed_phone=phone,
            shipping_address=address,
        )
    )
    session.add(
        Order(
            shop_id=shop.id,
            number=1001,
            currency="EUR",
            subtotal=1000,
            shipping_amount=0,
            total=1000,
            payment_method=PaymentMethod.BANK_TRANSFER,
            sealed_email=email,
            sealed_phone=phone,
            shipping_address=address,
            shipping_method_code="standard",
            shipping_method_name="Standard",
        )
    )


async def _key_ids(db: Database) -> set[str]:
    async with db.reader() as session:
        rows = await session.execute(text("SELECT email, phone FROM users"))
        clients = await session.execute(text("SELECT signing_secret FROM oauth_clients"))
        values = [v for row in rows for v in row if v] + [v for (v,) in clients]
        for model in (Cart, Order):
            for record in await session.scalars(select(model)):
                address = record.shipping_address or {}
                values += [record.sealed_email, record.sealed_phone, address.get("street1")]
    return {value.split(".")[1] for value in values}


@pytest.mark.anyio
async def test_rotation_rewrites_every_value_under_the_new_key(
    settings: Settings, empty_database: str, tmp_path: Path
) -> None:
    await anyio.to_thread.run_sync(upgrade, empty_database)
    db = Database.connect(settings, empty_database)
    hashing = PasswordHashing(time_cost=1, memory_kib=8)
    path = tmp_path / "keyring.json"
    old = load_or_create_keyring(path)
    try:
        emails = await _populate(db, old, hashing)

        new = add_data_key(path)
        on_disk = json.loads(path.read_text())
        assert on_disk["active"] == new.active_kid != old.active_kid
        assert set(on_disk["keys"]) == {old.active_kid, new.active_kid}
        assert path.stat().st_mode & 0o777 == 0o600

        batches: list[int] = []
        assert await reencrypt(db, new, batch_size=2, advance=batches.append) == 8
        assert batches == [2, 2, 1, 1, 1, 1]  # users, the client, the cart, the order
        assert await _key_ids(db) == {new.active_kid}

        people = IndexedFieldCipher.of(new)
        async with db.writer() as session, session.begin():
            for email in emails:
                user = await authenticate(
                    session,
                    hashing,
                    people,
                    email=email.upper(),
                    password=PASSWORD,
                    now=datetime.now(UTC),
                    policy=POLICY,
                )
                assert user is not None and email_of(user, people) == email
            phones = [phone_of(u, people) for u in (await session.scalars(select(User))).all()]
            assert sorted(p for p in phones if p) == ["+8613800000001", "+8613800000003"]
            client = await session.scalar(select(OAuthClient))
            assert client is not None and len(signing_secrets(client, new)) == 1
            order = await session.scalar(select(Order))
            assert order is not None
            contact = buyer.open_contact(order.sealed_email, order.sealed_phone, people)
            assert contact.email == BUYER_EMAIL
            assert buyer.open_address(order.shipping_address, people) == BERLIN

        # Nothing left to do: a second run reads every row and writes none.
        assert await reencrypt(db, new, batch_size=500) == 8
        assert await _key_ids(db) == {new.active_kid}
    finally:
        await db.dispose()


@pytest.mark.anyio
async def test_rows_from_before_encryption_are_sealed_by_the_rotation(
    settings: Settings, empty_database: str, tmp_path: Path
) -> None:
    await anyio.to_thread.run_sync(upgrade, empty_database, "0002")
    db = Database.connect(settings, empty_database)
    hashing = PasswordHashing(time_cost=1, memory_kib=8)
    try:
        async with db.writer() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO users (email, password_hash, name, phone, failed_logins,"
                    " created_at) VALUES ('old@example.com', :hash, 'Old', '13812345678', 0,"
                    " :now)"
                ),
                {"hash": await hashing.hash(PASSWORD), "now": datetime.now(UTC)},
            )
        await anyio.to_thread.run_sync(upgrade, empty_database)
        load_or_create_keyring(tmp_path / "keyring.json")
        cipher = add_data_key(tmp_path / "keyring.json")
        await reencrypt(db, cipher)

        async with db.reader() as session:
            raw = (await session.execute(text("SELECT email, phone, email_index FROM users"))).one()
        assert "old@example.com" not in str(raw) and "13812345678" not in str(raw)
        people = IndexedFieldCipher.of(cipher)
        async with db.writer() as session, session.begin():
            user = await authenticate(
                session,
                hashing,
                people,
                email="OLD@example.com",
                password=PASSWORD,
                now=datetime.now(UTC),
                policy=POLICY,
            )
            assert user is not None and phone_of(user, people) == "13812345678"
    finally:
        await db.dispose()


def test_the_cli_rotates_with_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("AGORA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/rekey.db")
    settings = Settings()
    upgrade(settings.resolved_database_url)
    old = load_or_create_keyring(settings.resolved_data_keyring_path)

    async def populate() -> None:
        db = Database.connect(settings)
        try:
            await _populate(db, old, PasswordHashing(time_cost=1, memory_kib=8))
        finally:
            await db.dispose()

    asyncio.run(populate())

    rotated = CliRunner().invoke(cli, ["keys", "rotate-data", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    new = load_or_create_keyring(settings.resolved_data_keyring_path, create=False)
    assert new.active_kid != old.active_kid and old.active_kid in new.keys
    assert f"every value is under {new.active_kid}" in rotated.output

    async def key_ids() -> set[str]:
        db = Database.connect(settings)
        try:
            return await _key_ids(db)
        finally:
            await db.dispose()

    assert asyncio.run(key_ids()) == {new.active_kid}
    resumed = CliRunner().invoke(cli, ["keys", "rotate-data", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert load_or_create_keyring(settings.resolved_data_keyring_path).active_kid == new.active_kid
