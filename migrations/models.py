"""Every table Agora owns, imported in one place so that alembic sees one complete metadata."""

from __future__ import annotations

import app.goods.models
import app.idempotency
import app.identity.models
import app.limits.overrides
import app.security.audit
import app.security.clients
import app.security.oauth.models
import app.security.rbac  # noqa: F401 - registers Casbin's rule table on the shared metadata
from app.db import Base

__all__ = ["metadata"]

metadata = Base.metadata
