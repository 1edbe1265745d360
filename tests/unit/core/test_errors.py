from __future__ import annotations

import pytest

from channelsync import errors
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    ConfigurationError,
    DataError,
    MissingCredentialError,
    PermanentChannelError,
    RateLimitedError,
    RetryableChannelError,
    TransientError,
    UsageError,
)


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (RateLimitedError, True),
        (TransientError, True),
        (AuthenticationError, False),
        (DataError, False),
        (PermanentChannelError, False),
    ],
)
def test_retryability_is_decided_by_class(cls: type[ChannelError], retryable: bool) -> None:
    assert cls("x").retryable is retryable
    assert isinstance(cls("x"), RetryableChannelError) is retryable


def test_channel_error_text_carries_its_context() -> None:
    error = RateLimitedError(
        "call limited",
        retry_after=3.0,
        channel="tmall-1",
        operation="taobao.item.get",
        code="7",
        status_code=200,
        request_id="rid-1",
    )
    assert str(error) == "[tmall-1] taobao.item.get: (7) call limited [HTTP 200] [request id rid-1]"
    assert error.retry_after == 3.0


def test_with_context_fills_only_what_is_unknown() -> None:
    error = TransientError("boom", operation="known").with_context(channel="c", operation="other")
    assert (error.channel, error.operation) == ("c", "known")


def test_configuration_error_names_file_channel_and_field() -> None:
    error = ConfigurationError("must be a string", path="a.toml", channel="jd", field="app_key")
    assert str(error) == "a.toml, channel 'jd', field 'app_key': must be a string"


def test_missing_credential_names_both_ways_to_set_it() -> None:
    text = str(MissingCredentialError("jd-1", "app_secret", "CHANNELSYNC_JD_1_APP_SECRET"))
    assert "channelsync credentials set jd-1 app_secret" in text
    assert "CHANNELSYNC_JD_1_APP_SECRET" in text


def test_usage_errors_are_runtime_errors_not_channel_errors() -> None:
    assert issubclass(UsageError, RuntimeError)
    assert not issubclass(UsageError, ChannelError)


def test_every_public_error_is_documented_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} is missing from the tree in channelsync.errors"
