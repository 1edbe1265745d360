"""The public testing kit, for channelsync's own tests and for plugin authors.

Installed with channelsync and registered with pytest through the ``pytest11`` entry
point, so its fixtures are available in any test suite once channelsync is installed:

- ``fake_clock``: a :class:`~channelsync.clock.FakeClock`; sleeping on it advances it.
- ``memory_keyring``: an in-memory keyring installed as the process keyring for the test.
- ``credential_store``: a :class:`~channelsync.credentials.CredentialStore` over memory,
  ignoring the real environment.

:class:`MemoryChannel` is an in-memory channel with every capability and the
marketplaces' failure modes, for testing code built on the engine.
"""

from __future__ import annotations

from channelsync.clock import FakeClock
from channelsync.credentials.memory import InMemoryKeyring, MemorySecretBackend
from channelsync.testing.memory_channel import MemoryChannel, MemoryListing

__all__ = ["FakeClock", "InMemoryKeyring", "MemoryChannel", "MemoryListing", "MemorySecretBackend"]
