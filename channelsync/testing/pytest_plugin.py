"""pytest fixtures shipped with channelsync (entry point ``pytest11``: ``channelsync``)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import InMemoryKeyring, MemorySecretBackend


@pytest.fixture
def fake_clock() -> FakeClock:
    """Return a clock that starts at 2026-01-01T00:00Z and advances only when slept on."""
    return FakeClock()


@pytest.fixture
def memory_keyring() -> Iterator[InMemoryKeyring]:
    """Install an in-memory keyring as the process keyring, and restore the old one after."""
    previous: KeyringBackend = keyring.get_keyring()
    backend = InMemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def credential_store() -> CredentialStore:
    """Return a credential store on memory that ignores the real environment."""
    return CredentialStore(backend=MemorySecretBackend(), environ={})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Turn each promise of the channel contract into its own test of a ``ChannelContract``."""
    cls = metafunc.cls
    if cls is None or "promise" not in metafunc.fixturenames:
        return
    from channelsync.testing.contract import ChannelContract  # noqa: PLC0415 - only when used

    if issubclass(cls, ChannelContract):
        promises = cls.promises()
        metafunc.parametrize("promise", promises, ids=[p.__name__ for p in promises])
