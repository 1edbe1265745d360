"""From a configured channel to its plugin's class and checked settings.

The file names a channel's type and holds its settings; only the plugin that
provides the type knows which settings it takes (its ``settings_model``) and which
are credentials, so both are resolved here, once the plugins are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from channelsync.config.secrets import is_secret_name, refuse_secret
from channelsync.errors import ConfigurationError

if TYPE_CHECKING:
    from channelsync.channels import Channel, ChannelSettings
    from channelsync.config import ChannelConfig, Config
    from channelsync.plugins.registry import ChannelRegistry

__all__ = ["resolve_channel_type", "resolve_settings"]


def resolve_channel_type(
    config: Config, channel: ChannelConfig, registry: ChannelRegistry
) -> type[Channel[Any]]:
    """Return the channel class for ``channel.type`` from the plugin registry.

    Raises :class:`~channelsync.errors.ConfigurationError` naming the type and the
    installed types, pointing at ``channelsync plugins``, when no plugin provides it.
    """
    if channel.type in registry:
        return registry.get(channel.type)
    known = ", ".join(registry.types()) or "none"
    raise ConfigurationError(
        f"unknown channel type {channel.type!r} (installed types: {known}). Install the "
        "plugin that provides it; `channelsync plugins` lists the installed plugins and "
        "any that failed to load",
        path=str(config.path),
        channel=channel.name,
        field="type",
    )


def resolve_settings(
    config: Config, channel: ChannelConfig, channel_cls: type[Channel[Any]]
) -> ChannelSettings:
    """Validate a channel's settings with its type's ``settings_model``.

    ``base_url`` is passed only when the file sets it, so a settings model's own
    default applies otherwise. A key that is one of the type's credential fields is
    refused as a secret. Validation errors become a
    :class:`~channelsync.errors.ConfigurationError` naming the file, the channel, the
    field and the problem; values of secret-looking fields are never shown.
    """
    where = str(config.path)
    secret_fields = set(channel_cls.credential_fields) | set(channel_cls.optional_credential_fields)
    for key in channel.settings:
        if key in secret_fields:
            refuse_secret(key, channel.name, where)
    values: dict[str, Any] = dict(channel.settings)
    if channel.base_url is not None:
        values["base_url"] = channel.base_url
    model = channel_cls.settings_model
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = [_describe(error, model, secret_fields) for error in exc.errors()]
        first = problems[0]
        if len(problems) == 1:
            raise ConfigurationError(
                f"invalid setting for channel type {channel.type!r}: {first[1]}",
                path=where,
                channel=channel.name,
                field=first[0],
            ) from None
        listed = "; ".join(f"field {loc!r}: {msg}" for loc, msg in problems)
        raise ConfigurationError(
            f"{len(problems)} invalid settings for channel type {channel.type!r}: {listed}",
            path=where,
            channel=channel.name,
        ) from None


def _describe(error: Any, model: type[ChannelSettings], secret_fields: set[str]) -> tuple[str, str]:
    loc = ".".join(str(part) for part in error.get("loc", ())) or "(settings)"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(model.model_fields)) or "none"
        return loc, f"unknown setting (settings of this type: {allowed})"
    message = str(error.get("msg", "invalid value"))
    secret = any(is_secret_name(str(part)) or part in secret_fields for part in error["loc"])
    value = error.get("input")
    if not secret and kind != "missing" and isinstance(value, str | int | float | bool):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message = f"{message} (got {shown})"
    return loc, message
