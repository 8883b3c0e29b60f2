"""Users' email and phone at rest: ciphertext in the row, found by a case-insensitive blind
index that survives a data-key rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.errors import DomainError
from app.identity.errors import IdentityErrorCode
from app.identity.personal import email_index, email_of, phone_of
from app.identity.service import create_user, user_by_email
from app.security.blind_index import IndexedFieldCipher
from tests.support.factories import World, unique

pytestmark = pytest.mark.anyio


async def test_the_raw_row_holds_only_ciphertext_and_an_index(world: World) -> None:
    email = f"{unique('ann')}@example.com"
    user_id, _ = await world.user(email=email.upper(), phone="+86 138 1234 5678")

    async with world.services.db.reader() as session:
        row = (
            await session.execute(
                text("SELECT email, phone, email_index FROM users WHERE id = :id"), {"id": user_id}
            )
        ).one()
    stored = " ".join(str(value) for value in row)
    assert email not in stored.lower()
    assert "1234" not in stored and "5678" not in stored
    assert row.email.startswith(f"v1.{world.services.cipher.active_kid}.")
    assert row.phone.startswith(f"v1.{world.services.cipher.active_kid}.")
    assert len(row.email_index) == 64


async def test_values_decrypt_back_normalised(world: World) -> None:
    email = f"{unique('Bob')}@Example.COM"
    cipher = IndexedFieldCipher.of(world.services.cipher)
    user_id, _ = await world.user(email=email, phone="+86 138-1234-5678")
    async with world.services.db.reader() as session:
        user = await user_by_email(session, cipher, email.lower())
    assert user is not None and user.id == user_id
    assert email_of(user, cipher) == email.lower()
    assert phone_of(user, cipher) == "+8613812345678"


async def test_lookup_and_uniqueness_ignore_case(world: World) -> None:
    email = f"{unique('carol')}@example.com"
    cipher = IndexedFieldCipher.of(world.services.cipher)
    user_id, _ = await world.user(email=email)

    async with world.services.db.reader() as session:
        found = await user_by_email(session, cipher, f"  {email.upper()} ")
    assert found is not None and found.id == user_id

    with pytest.raises(DomainError) as refused:
        async with world.services.db.writer() as session, session.begin():
            await create_user(
                session,
                world.services.passwords,
                cipher,
                email=email.title(),
                password="correct horse battery",
            )
    [problem] = refused.value.problems
    assert problem.code is IdentityErrorCode.EMAIL_TAKEN
    assert email.lower() not in problem.message.lower()
    async with world.services.db.reader() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM users WHERE email_index = :index"),
            {"index": email_index(cipher, email)},
        )
    assert count == 1


async def test_a_bad_phone_is_refused_without_echoing_it(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        async with world.services.db.writer() as session, session.begin():
            await create_user(
                session,
                world.services.passwords,
                IndexedFieldCipher.of(world.services.cipher),
                email=f"{unique('dan')}@example.com",
                password="correct horse battery",
                phone="call 555 0100 please",
            )
    [problem] = refused.value.problems
    assert (problem.code, problem.field) == (IdentityErrorCode.INVALID, ("phone",))
    assert "555" not in str(refused.value)


async def test_the_blind_index_survives_a_data_key_rotation(world: World) -> None:
    before = IndexedFieldCipher.of(world.services.cipher)
    after = IndexedFieldCipher.of(world.services.cipher.rotated().rotated())
    assert after.active_kid != before.active_kid
    assert email_index(after, "ann@example.com") == email_index(before, "ann@example.com")
    assert email_index(before, "ann@example.com") != email_index(before, "ann@example.org")
    # Keyed per column: the same text indexes differently elsewhere.
    assert before.blind_index("x", context="users.email_index") != before.blind_index(
        "x", context="users.phone_index"
    )
