"""Signing up, creating staff, and checking passwords with a lockout after repeated failures.

Emails and phones are stored encrypted (``app.identity.personal``); users are found by the
email's blind index. Refusals never repeat the address or number they refuse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import (
    PersonalDataCipher,
    is_valid_email,
    is_valid_phone,
    normalize_email,
    normalize_phone,
)
from app.errors import DomainError
from app.identity.errors import IdentityErrorCode
from app.identity.models import Shop, User
from app.identity.passwords import MIN_PASSWORD_LENGTH, PasswordHashing
from app.identity.personal import email_index, seal_contact

__all__ = [
    "LockoutPolicy",
    "authenticate",
    "create_user",
    "default_shop",
    "normalize_email",
    "normalize_phone",
    "shop_by_handle",
    "user_by_email",
]

log = logging.getLogger("agora.identity")

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int
    lockout: timedelta


async def user_by_email(
    session: AsyncSession, cipher: PersonalDataCipher, email: str
) -> User | None:
    """Case-insensitive, through the blind index: the ciphertext itself cannot be searched."""
    index = email_index(cipher, normalize_email(email))
    return await session.scalar(select(User).where(User.email_index == index))


async def create_user(
    session: AsyncSession,
    hashing: PasswordHashing,
    cipher: PersonalDataCipher,
    *,
    email: str,
    password: str,
    name: str = "",
    phone: str | None = None,
) -> User:
    """Create a user in the caller's transaction; role grants are the caller's business."""
    normalized = normalize_email(email)
    if not is_valid_email(normalized):
        raise DomainError.one(IdentityErrorCode.INVALID, "Enter a valid email address.", "email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError.one(
            IdentityErrorCode.PASSWORD_TOO_SHORT,
            f"Use at least {MIN_PASSWORD_LENGTH} characters.",
            "password",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DomainError.one(IdentityErrorCode.INVALID, "The name is too long.", "name")
    phone = normalize_phone(phone) if phone else None
    if phone is not None and not is_valid_phone(phone):
        raise DomainError.one(IdentityErrorCode.INVALID, "Enter a valid phone number.", "phone")
    if await user_by_email(session, cipher, normalized) is not None:
        raise DomainError.one(IdentityErrorCode.EMAIL_TAKEN, "This email is registered.", "email")
    user = User(password_hash=await hashing.hash(password), name=name.strip())
    seal_contact(user, cipher, email=normalized, phone=phone)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise DomainError.one(
            IdentityErrorCode.EMAIL_TAKEN, "This email is registered.", "email"
        ) from exc
    return user


async def authenticate(
    session: AsyncSession,
    hashing: PasswordHashing,
    cipher: PersonalDataCipher,
    *,
    email: str,
    password: str,
    now: datetime,
    policy: LockoutPolicy,
) -> User | None:
    """The user if the password is right and the account is not locked, else None.

    Every failure looks the same to the caller (unknown user, wrong password, locked account),
    and costs the same time: the password is always verified. Failure counts are written to the
    session, so the caller commits even when this returns None.
    """
    user = await user_by_email(session, cipher, email)
    matched = await hashing.verify(user.password_hash if user else None, password)
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or locked or not matched:
        # Operators watch refusals for credential stuffing; the log filter masks the address.
        log.info("login refused", extra={"email": email, "user_id": user.id if user else None})
    if user is None or locked:
        return None
    if not matched:
        # Counted in SQL, so that concurrent guesses cannot lose increments.
        failures = await session.scalar(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        )
        if failures is not None and failures >= policy.max_failures:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    return user


async def shop_by_handle(session: AsyncSession, handle: str) -> Shop | None:
    return await session.scalar(select(Shop).where(Shop.handle == handle))


async def default_shop(session: AsyncSession) -> Shop | None:
    """The only shop, when there is exactly one (apps' sandbox shops aside); storefronts may
    then omit the shop header."""
    shops = (
        await session.scalars(
            select(Shop).where(Shop.sandbox.is_(False)).order_by(Shop.id).limit(2)
        )
    ).all()
    return shops[0] if len(shops) == 1 else None
