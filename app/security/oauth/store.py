"""The async halves of an OAuth request: load what authlib may read, apply what it decided.

Single use is settled here, not in the snapshot: redeeming a code or rotating a refresh token
is a conditional UPDATE, so of two concurrent requests exactly one wins. The loser's tokens
are never handed out, and, since a second use means a copy exists, the grant is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.security.clients import client_by_id
from app.security.oauth.exchange import Effects, Exchange, Snapshot
from app.security.oauth.models import AppAccessToken, AppRefreshToken, AuthorizationCode, digest
from app.security.oauth.records import AccessRecord, ClientRecord, CodeRecord, RefreshRecord
from app.security.oauth.requests import OAuthCall
from app.security.tokens import InvalidTokenError, TokenService

__all__ = [
    "Applied",
    "apply_effects",
    "load_snapshot",
    "revoke_shop_grants",
]


def _client_id(call: OAuthCall) -> str | None:
    try:
        basic_id, _ = extract_basic_authorization({"Authorization": call.authorization or ""})
    except ValueError:  # garbled Basic credentials (UnicodeDecodeError too): no such client
        basic_id = None
    return basic_id or call.form_value("client_id") or call.query_value("client_id")


async def load_snapshot(
    session: AsyncSession, call: OAuthCall, tokens: TokenService, now: datetime
) -> Snapshot:
    """Every row the call could make authlib ask about, and nothing else."""
    snapshot = Snapshot(now=now)
    client_id = _client_id(call)
    if client_id:
        row = await client_by_id(session, client_id)
        if row is not None:
            snapshot.clients[client_id] = ClientRecord(row, now)
    if code := call.form_value("code"):
        await _load_code(session, snapshot, code)
    for name in ("refresh_token", "token"):
        if raw := call.form_value(name):
            await _load_refresh(session, snapshot, raw)
    if raw := call.form_value("token"):
        try:
            claims = tokens.verify(raw)
        except InvalidTokenError:
            pass
        else:
            revoked = await tokens.denylist.is_revoked(claims.token_id)
            snapshot.access_tokens[raw] = AccessRecord(claims, revoked)
    return snapshot


async def _load_code(session: AsyncSession, snapshot: Snapshot, raw: str) -> None:
    row = await session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(raw))
    )
    if row is None:
        return
    snapshot.codes[raw] = CodeRecord(
        id=row.id,
        client_id=row.client_id,
        user_id=row.user_id,
        shop_id=row.shop_id,
        scope=row.scope,
        redirect_uri=row.redirect_uri,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        family_id=row.family_id,
        expired=row.expires_at <= snapshot.now,
        used=row.used_at is not None,
    )


async def _load_refresh(session: AsyncSession, snapshot: Snapshot, raw: str) -> None:
    row = await session.scalar(
        select(AppRefreshToken).where(AppRefreshToken.token_hash == digest(raw))
    )
    if row is None:
        return
    snapshot.refresh_tokens[raw] = RefreshRecord(
        id=row.id,
        client_id=row.client_id,
        family_id=row.family_id,
        shop_id=row.shop_id,
        user_id=row.user_id,
        scope=row.scope,
        expires_at=int(row.expires_at.timestamp()),
        expired=row.expires_at <= snapshot.now,
        rotated=row.rotated_at is not None,
        revoked=row.revoked_at is not None,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """``refused`` when a code or refresh token lost a single-use race: nothing was issued."""

    refused: bool
    denied_tokens: list[tuple[str, int]]


async def apply_effects(
    session: AsyncSession, exchange: Exchange, *, code_ttl: timedelta, refresh_ttl: timedelta
) -> Applied:
    """Write the effects in the caller's transaction; returns the ``jti``s to deny."""
    effects, now = exchange.effects, exchange.snapshot.now
    if (new := effects.new_code) is not None:
        session.add(
            AuthorizationCode(
                code_hash=digest(new.raw),
                client_id=new.client_id,
                user_id=new.installation.user_id,
                shop_id=new.installation.shop_id,
                scope=new.scope,
                redirect_uri=new.redirect_uri,
                code_challenge=new.code_challenge,
                code_challenge_method=new.code_challenge_method,
                family_id=new.installation.family_id,
                created_at=now,
                expires_at=now + code_ttl,
            )
        )
    refused = not await _claim_single_use(session, effects, now)
    if effects.issued is not None and not refused:
        _record_issued(session, effects, now, refresh_ttl)
    denied = list(effects.revoked_tokens)
    for family_id in dict.fromkeys(effects.revoked_families):
        denied += await _revoke_family(session, family_id, now)
    await session.flush()
    return Applied(refused, denied)


async def _claim_single_use(session: AsyncSession, effects: Effects, now: datetime) -> bool:
    if (code := effects.consumed_code) is not None:
        claimed = await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            effects.revoked_families.append(code.family_id)
            return False
    if (refresh := effects.rotated_refresh) is not None:
        claimed = await session.execute(
            update(AppRefreshToken)
            .where(
                AppRefreshToken.id == refresh.id,
                AppRefreshToken.rotated_at.is_(None),
                AppRefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            effects.revoked_families.append(refresh.family_id)
            return False
    return True


def _record_issued(
    session: AsyncSession, effects: Effects, now: datetime, refresh_ttl: timedelta
) -> None:
    issued = effects.issued
    assert issued is not None
    installation = issued.installation
    if installation is None:
        return  # client credentials: a self-contained JWT, revocable by its jti alone
    session.add(
        AppAccessToken(
            jti=issued.access.token_id,
            family_id=installation.family_id,
            client_id=issued.client_id,
            expires_at=datetime.fromtimestamp(issued.access.expires_at, now.tzinfo),
        )
    )
    if issued.refresh_token is not None:
        session.add(
            AppRefreshToken(
                token_hash=digest(issued.refresh_token),
                family_id=installation.family_id,
                client_id=issued.client_id,
                shop_id=installation.shop_id,
                user_id=installation.user_id,
                scope=issued.scope,
                created_at=now,
                expires_at=now + refresh_ttl,
            )
        )


async def _revoke_family(
    session: AsyncSession, family_id: str, now: datetime
) -> list[tuple[str, int]]:
    await session.execute(
        update(AppRefreshToken)
        .where(AppRefreshToken.family_id == family_id, AppRefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    live = await session.execute(
        select(AppAccessToken.jti, AppAccessToken.expires_at).where(
            AppAccessToken.family_id == family_id, AppAccessToken.expires_at > now
        )
    )
    return [(jti, int(expires_at.timestamp())) for jti, expires_at in live]


async def revoke_shop_grants(
    session: AsyncSession, client_id: str, shop_id: int, now: datetime
) -> list[tuple[str, int]]:
    """Revoke every grant a client holds in one shop (an uninstall): its refresh tokens at
    once, and the ``(jti, exp)`` of its live access tokens for the caller to deny."""
    families = set(
        await session.scalars(
            select(AuthorizationCode.family_id).where(
                AuthorizationCode.client_id == client_id, AuthorizationCode.shop_id == shop_id
            )
        )
    )
    denied: list[tuple[str, int]] = []
    for family_id in sorted(families):
        denied += await _revoke_family(session, family_id, now)
    return denied
