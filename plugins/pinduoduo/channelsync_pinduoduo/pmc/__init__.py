"""Pinduoduo's message service (PMC): pushed order and refund events over a WebSocket."""

from __future__ import annotations

from channelsync_pinduoduo.pmc.capability import PERMIT_METHOD, PmcEvents
from channelsync_pinduoduo.pmc.frames import ORDER_TOPICS, PMC_TOPICS, REFUND_TOPICS, pmc_sign
from channelsync_pinduoduo.pmc.listener import PmcConnection, PmcListener, PmcTimers

__all__ = [
    "ORDER_TOPICS",
    "PERMIT_METHOD",
    "PMC_TOPICS",
    "REFUND_TOPICS",
    "PmcConnection",
    "PmcEvents",
    "PmcListener",
    "PmcTimers",
    "pmc_sign",
]
