"""The sync engine: catalogue, stock ledger, allocation, outbox, orders and shipments.

Written only against the core channel interfaces and the state store's interface, so
it works with any channel plugin and any store implementation.
"""

from __future__ import annotations

from channelsync.engine.catalogue import (
    CatalogueRow,
    ImportSummary,
    export_catalogue,
    import_catalogue,
    parse_catalogue,
    read_catalogue_file,
)
from channelsync.engine.errors import InputError, Problem

__all__ = [
    "CatalogueRow",
    "ImportSummary",
    "InputError",
    "Problem",
    "export_catalogue",
    "import_catalogue",
    "parse_catalogue",
    "read_catalogue_file",
]
