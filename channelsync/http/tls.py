"""Whether and how a channel checks TLS certificates, and what counts as this machine.

Verification is on by default; a loopback host (a local fake) may turn it off, any
other host only with an explicit, logged opt-in. Clients of one process share their
TLS contexts (:func:`tls_context`).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import ssl
from pathlib import Path

import httpx

from channelsync.errors import ConfigurationError

__all__ = ["is_loopback_url", "tls_context", "tls_verification"]

logger = logging.getLogger("channelsync.http")


def is_loopback_url(url: str) -> bool:
    """Return whether ``url`` points at this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (httpx.URL(url).host or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_verification(
    channel: str,
    base_url: str,
    *,
    verify_tls: bool = True,
    ca_bundle: str | None = None,
    allow_insecure_tls: bool = False,
) -> bool | ssl.SSLContext:
    """Decide how a channel's client checks TLS certificates; the ``verify`` for httpx.

    Verification is on by default (the system's trust store, through httpx). A
    ``ca_bundle`` (a PEM file or a directory of them) replaces the trust store and
    keeps verification on: the way to reach a gateway behind a company proxy.
    Turning verification off (``verify_tls = false``) is accepted for a loopback
    host (a local fake); for any other host it is refused with a
    :class:`~channelsync.errors.ConfigurationError` unless ``allow_insecure_tls`` is
    also set, and then a warning is logged every time a client is opened.
    """
    if ca_bundle is not None:
        if not verify_tls:
            raise ConfigurationError(
                "ca_bundle and verify_tls = false contradict each other; keep one",
                channel=channel,
                field="ca_bundle",
            )
        bundle = Path(ca_bundle).expanduser()
        try:
            return _bundle_context(str(bundle.resolve()), bundle.is_dir())
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"the CA bundle {str(bundle)!r} cannot be used: {exc}",
                channel=channel,
                field="ca_bundle",
            ) from None
    if verify_tls:
        return True
    if is_loopback_url(base_url):
        return False
    if not allow_insecure_tls:
        raise ConfigurationError(
            f"verify_tls = false is refused for {httpx.URL(base_url).host!r}: certificate "
            "checks may only be turned off for a loopback host. Use ca_bundle for a private "
            "certificate authority, or also set allow_insecure_tls = true to override "
            "(a warning is logged at every start)",
            channel=channel,
            field="verify_tls",
        )
    logger.warning(
        "TLS CERTIFICATE VERIFICATION IS OFF for channel %r talking to %s "
        "(allow_insecure_tls = true): anyone on the network path can read and alter "
        "its requests, credentials included",
        channel,
        httpx.URL(base_url).host,
        extra={"channel": channel, "operation": "connect"},
    )
    return False


def tls_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    """Return the TLS context for ``verify`` (as :func:`tls_verification` decides it).

    httpx builds a context for every client, loading the whole trust store each time:
    ~20 ms of CPU and a megabyte per client, for every channel a process opens (a
    worker serving 200 merchants opens 800). One context per setting serves them all;
    the trust store is read once per process (``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    are honoured as httpx honours them).
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    return _shared_context(verify)


@functools.cache
def _shared_context(verify: bool) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)


@functools.cache
def _bundle_context(path: str, is_dir: bool) -> ssl.SSLContext:
    # A failure raises and is not kept: a bundle fixed on disk is read by the next try.
    if is_dir:
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
