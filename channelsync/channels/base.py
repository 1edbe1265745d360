"""The Channel base: one shop on one marketplace, owning its HTTP transport.

A plugin subclasses :class:`Channel` together with the capability interfaces it
implements (:mod:`channelsync.channels.interfaces`). Capabilities are derived from
those interfaces, so a channel can never claim one it does not implement.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import httpx
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from channelsync.channels.capabilities import Capability, ChannelLimits, RateLimit
from channelsync.clock import Clock, SystemClock
from channelsync.errors import ChannelNotOpenError, ConfigurationError, UsageError
from channelsync.http import (
    ChannelHttpClient,
    HttpStatusClassifier,
    Redactor,
    ResponseClassifier,
    RetryPolicy,
    TransportMetrics,
)
from channelsync.http.client import is_loopback_url, tls_verification
from channelsync.http.ratelimit import RateLimiter

if TYPE_CHECKING:
    from channelsync.credentials import ChannelCredentials

__all__ = ["Channel", "ChannelSettings"]


class ChannelSettings(BaseModel):
    """The non-secret settings of a channel, read from its ``[[channels]]`` entry.

    Plugins subclass this with their own fields (``app_key``, ``region`` …). Secrets
    are never settings: they are credentials, kept in the keyring or the environment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    """Overrides the marketplace gateway (a sandbox or a local fake)."""
    verify_tls: bool = Field(
        default=True,
        description="Check the gateway's TLS certificate; `false` is accepted only for a "
        "loopback `base_url` (a local fake) unless `allow_insecure_tls` is set.",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="A PEM file (or a directory of them) of trusted certificate authorities, "
        "used instead of the system's; verification stays on.",
    )
    events: bool = Field(
        default=False,
        description="Listen to the marketplace's pushed events (Taobao TMC, Pinduoduo PMC, "
        "Amazon notifications through SQS) beside polling; only for a channel type with the "
        "`events` capability, after the shop was opted in (`channelsync events enable`).",
    )
    allow_insecure_tls: bool = Field(
        default=False,
        description="Accept `verify_tls = false` for a marketplace host; a warning is logged "
        "every time the channel opens.",
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict,
        description="Rate limits the marketplace granted this app, by operation (the "
        "marketplace's method or operation name, as the plugin's limits name it): "
        '`{ "taobao.skus.quantity.update" = { rate = 10, burst = 10 } }`. Operations not '
        "named keep the plugin's documented defaults.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        AnyHttpUrl(value)  # raises a ValueError naming the value when malformed
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_tls(self) -> Self:
        # Refused here too, so `channelsync channels --check` reports it before a run.
        if self.verify_tls:
            return self
        if self.ca_bundle is not None:
            raise ValueError("ca_bundle and verify_tls = false contradict each other")
        if self.allow_insecure_tls or (self.base_url and is_loopback_url(self.base_url)):
            return self
        raise ValueError(
            "verify_tls = false is only accepted for a loopback base_url; use ca_bundle for "
            "a private certificate authority, or also set allow_insecure_tls = true"
        )


SettingsT = TypeVar("SettingsT", bound=ChannelSettings)


class Channel(ABC, Generic[SettingsT]):
    """One shop on one marketplace.

    Use it as an async context manager: entering opens the HTTP transport, leaving
    closes it. Marketplace methods called outside ``async with`` raise
    :class:`~channelsync.errors.ChannelNotOpenError`.

    Subclasses declare, as class attributes: ``type_name`` (the ``type`` in config),
    ``display_name``, ``settings_model``, the ``credential_fields`` they need and the
    ``optional_credential_fields`` they may use, ``default_base_url`` and ``limits``.
    They override :meth:`build_auth` to sign requests and :meth:`build_classifier` to
    read the marketplace's error envelope.
    """

    type_name: ClassVar[str]
    display_name: ClassVar[str]
    settings_model: ClassVar[type[ChannelSettings]] = ChannelSettings
    credential_fields: ClassVar[tuple[str, ...]] = ()
    optional_credential_fields: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    limits: ClassVar[ChannelLimits] = ChannelLimits()
    status_note: ClassVar[str] = ""
    """A short note for ``channelsync plugins``, e.g. what is not implemented yet."""
    capability_notes: ClassVar[Mapping[Capability, str]] = {}
    """Per-capability notes (scope, what is out of scope)."""
    demo_module: ClassVar[str | None] = None
    """The module exporting the marketplace's fake for ``channelsync demo``.

    It exports ``demo_fake(*, clock=None, faults=None, seed=0)`` (a fake marketplace
    holding the shared demo catalogue, served with ``.serve()``), ``DEMO_SETTINGS``
    and ``DEMO_CREDENTIALS``; ``None`` leaves the channel type out of the demo.
    """

    def __init__(
        self,
        name: str,
        settings: SettingsT,
        credentials: ChannelCredentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        metrics: TransportMetrics | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(settings, self.settings_model):
            raise UsageError(
                f"{type(self).__name__} needs settings of type "
                f"{self.settings_model.__name__}, got {type(settings).__name__}"
            )
        if settings.events and not self.supports(Capability.EVENTS):
            raise ConfigurationError(
                f"events = true, but the {self.type_name} channel type cannot listen to "
                "marketplace events",
                channel=name,
                field="events",
            )
        self.name = name
        self.settings = settings
        self.credentials = credentials
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or TransportMetrics()
        self.retry_policy = retry_policy or RetryPolicy()
        self.redactor = Redactor()
        unknown = sorted(set(settings.rate_limits) - set(self.limits.rate_limits))
        if unknown:
            known = ", ".join(sorted(self.limits.rate_limits)) or "none"
            raise ConfigurationError(
                f"rate_limits names {', '.join(map(repr, unknown))}, which the "
                f"{self.type_name} channel type does not call (its operations: {known})",
                channel=name,
                field="rate_limits",
            )
        self._transport = transport
        self._http: ChannelHttpClient | None = None
        self.last_success_at: datetime | None = None
        """When a call to the marketplace last succeeded: the credentials worked then."""
        self.rate_limiter: RateLimiter | None = None
        """The limiter the transport paces with, set before opening to share one (``None``:
        a limiter of the channel's own). Workers give each channel one whose buckets are
        shared by every worker (:mod:`channelsync.workers.pacing`)."""

    # -- declared facts -------------------------------------------------------------

    @classmethod
    def capabilities(cls) -> frozenset[Capability]:
        """Return the capabilities this channel implements (from its interfaces)."""
        from channelsync.channels.interfaces import CAPABILITY_INTERFACES  # noqa: PLC0415

        return frozenset(
            cap for cap, interface in CAPABILITY_INTERFACES.items() if issubclass(cls, interface)
        )

    @classmethod
    def supports(cls, capability: Capability) -> bool:
        """Return whether this channel implements ``capability``."""
        return capability in cls.capabilities()

    @classmethod
    def all_credential_fields(cls) -> tuple[str, ...]:
        """Return the required then the optional credential field names."""
        return cls.credential_fields + cls.optional_credential_fields

    @property
    def granted_limits(self) -> ChannelLimits:
        """The plugin's declared limits with the rates this shop's settings grant."""
        if not self.settings.rate_limits:
            return self.limits
        rates = {**self.limits.rate_limits, **self.settings.rate_limits}
        return self.limits.model_copy(update={"rate_limits": rates})

    @property
    def base_url(self) -> str:
        """The gateway this channel talks to: the configured override or the default."""
        return self.settings.base_url or self.default_base_url

    # -- overridable seams ----------------------------------------------------------

    def build_auth(self) -> httpx.Auth | None:
        """Return the ``httpx.Auth`` that signs each request (``None``: no signing)."""
        return None

    def build_classifier(self) -> ResponseClassifier:
        """Return the classifier that turns marketplace answers into errors."""
        return HttpStatusClassifier()

    def http_client_options(self) -> dict[str, Any]:
        """Return extra keyword arguments for :class:`ChannelHttpClient` (e.g. timeout)."""
        return {}

    # -- lifecycle ------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the channel's transport is open."""
        return self._http is not None

    @property
    def http(self) -> ChannelHttpClient:
        """The channel's transport; only available inside ``async with``."""
        if self._http is None:
            raise ChannelNotOpenError(
                f"channel {self.name!r} is not open: use `async with channel:` before calling it"
            )
        return self._http

    async def open(self) -> None:
        """Open the transport (what ``async with`` does on entry)."""
        if self._http is not None:
            return
        for field in self.all_credential_fields():
            value = self.credentials.get(field)
            if value:
                self.redactor.add_secret(value)
        http = ChannelHttpClient(
            channel=self.name,
            base_url=self.base_url,
            limits=self.granted_limits,
            unsafe_operations=self.limits.unsafe_writes,
            on_success=self._succeeded,
            auth=self.build_auth(),
            classifier=self.build_classifier(),
            retry_policy=self.retry_policy,
            clock=self.clock,
            metrics=self.metrics,
            redactor=self.redactor,
            transport=self._transport,
            rate_limiter=self.rate_limiter,
            verify=tls_verification(
                self.name,
                self.base_url,
                verify_tls=self.settings.verify_tls,
                ca_bundle=self.settings.ca_bundle,
                allow_insecure_tls=self.settings.allow_insecure_tls,
            ),
            **self.http_client_options(),
        )
        await http.__aenter__()
        self._http = http

    def _succeeded(self) -> None:
        self.last_success_at = self.clock.now()

    async def close(self) -> None:
        """Close the transport (what ``async with`` does on exit)."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} type={self.type_name!r}>"
