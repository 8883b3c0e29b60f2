"""Key material that Agora makes for itself on first run, under ``var/keys`` (git-ignored).

Production mounts its own files at the configured paths; dev gets fresh keys and never a key
from the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from joserfc import jwk

__all__ = [
    "MissingKeyError",
    "load_or_create_secret",
    "load_or_create_signing_key",
    "write_private",
]


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    # link() refuses to overwrite: when two workers start at once, the first key wins and both
    # read that one, complete.
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


class MissingKeyError(RuntimeError):
    """Production never invents keys: a missing key file is a deployment error."""


def _require(path: Path, create: bool) -> None:
    if not path.exists() and not create:
        raise MissingKeyError(f"{path} does not exist; mount the key or set its AGORA_* path")


def load_or_create_signing_key(path: Path, *, create: bool = True) -> jwk.ECKey:
    """The ES256 key that signs access tokens; its ``kid`` is its RFC 7638 thumbprint."""
    _require(path, create)
    if not path.exists():
        key = jwk.ECKey.generate_key("P-256", auto_kid=True)
        write_private(path, json.dumps(key.as_dict(private=True)).encode())
    return jwk.ECKey.import_key(json.loads(path.read_text()))


def load_or_create_secret(path: Path, *, create: bool = True) -> bytes:
    """A 256-bit secret for HMACs that never leave Agora (pagination cursors)."""
    _require(path, create)
    if not path.exists():
        write_private(path, secrets.token_hex(32).encode())
    return bytes.fromhex(path.read_text().strip())
