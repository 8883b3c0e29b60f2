"""Settings, read once from ``AGORA_*`` environment variables.

Every knob an operator may turn lives here, so that the README's configuration table can be
checked against one class (``tests/app/test_config.py`` does so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Agora's configuration. Defaults suit ``make run`` on a laptop; production overrides them."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", extra="ignore", frozen=True)

    environment: Literal["dev", "prod"] = "dev"
    var_dir: Path = Path("var")
    database_url: str = ""
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_echo: bool = False
    redis_url: str | None = None
    redis_prefix: str = "agora:"

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    cors_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    log_json: bool = False
    slow_operation_ms: int = Field(default=500, ge=0)
    otel_enabled: bool = False

    jwt_private_key_path: Path | None = None
    secret_key_path: Path | None = None
    data_keyring_path: Path | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=3600)
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)

    rate_limit_rate: float = Field(default=10.0, gt=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    query_cost_bucket_max: int = Field(default=1000, ge=1)
    query_cost_restore_rate: float = Field(default=50.0, gt=0)
    max_query_cost: int = Field(default=1000, ge=1)
    concurrency_per_principal: int = Field(default=16, ge=1)
    max_in_flight: int = Field(default=512, ge=1)
    rate_limit_fail_open: bool = False
    workers: int = Field(default=1, ge=1)
    shutdown_grace_seconds: float = Field(default=30.0, gt=0, le=600)
    require_trusted_documents: bool = False

    stripe_api_key: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: str | None = None
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, le=80)
    order_payment_timeout_seconds: int = Field(default=1800, ge=60)
    jobs_interval_seconds: float = Field(default=30.0, ge=0)

    dispatcher_interval_seconds: float = Field(default=1.0, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    webhook_retry_window_seconds: int = Field(default=86_400, ge=60, le=7 * 86_400)
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    webhook_breaker_failures: int = Field(default=5, ge=1)
    webhook_breaker_cooldown_seconds: float = Field(default=60.0, gt=0)
    extension_timeout_ms: int = Field(default=800, ge=50, le=10_000)
    extension_breaker_failures: int = Field(default=5, ge=1)
    extension_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    settlement_tz: str = "UTC"
    app_secret_grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)

    max_query_tokens: int = Field(default=2000, ge=100)
    max_query_depth: int = Field(default=10, ge=2)
    max_query_aliases: int = Field(default=30, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept ``a,b`` in the environment as well as a real list."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLite file under ``var/`` unless a URL is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'agora.db').as_posix()}"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def resolved_jwt_private_key_path(self) -> Path:
        return self.jwt_private_key_path or self.keys_dir / "jwt-signing.jwk.json"

    @property
    def resolved_secret_key_path(self) -> Path:
        return self.secret_key_path or self.keys_dir / "secret.key"

    @property
    def resolved_data_keyring_path(self) -> Path:
        return self.data_keyring_path or self.keys_dir / "data-keyring.json"

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"
