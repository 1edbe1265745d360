"""The fake gateway's TMC control methods: permit, user.get and the connection token.

* ``taobao.tmc.user.permit`` (shop session): ``topics`` comma-separated, optional;
  omitted means every topic the app subscribed. Each call *replaces* the list.
  Answers ``{"is_success": true}``.
* ``taobao.tmc.user.get``: ``fields`` and ``nick``; answers ``tmc_user`` with
  ``topics{string[]}``, ``user_nick``, ``user_id``, ``is_valid``, ``created``,
  ``modified`` (shape of a captured answer).
* ``taobao.tmc.auth.get`` (app signature, no session): ``group``; answers
  ``result``, a token the fake's TMC server may require in the CONNECT.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from channelsync.clock import Clock
from channelsync.testing.fakes import PushQueue
from channelsync_tmall.fake.tmc_topics import SELLER_ID, SELLER_NICK, SUBSCRIBED_TOPICS
from channelsync_tmall.fake.wire import TopFault, top_time

__all__ = ["TmcMethods"]

Params = dict[str, str]


class TmcMethods:
    """TMC control methods; :class:`~channelsync_tmall.fake.FakeTop` mixes them in."""

    push: PushQueue
    clock: Clock
    #: Tokens issued by ``taobao.tmc.auth.get``.
    tmc_auth_tokens: set[str]
    #: The app's message groups (``default`` plus any added ones).
    tmc_groups: frozenset[str]
    _tmc_permitted_at: tuple[datetime, datetime] | None = None

    def tmc_user_permit(self, params: Params) -> dict[str, Any]:
        """``taobao.tmc.user.permit``: replace the shop's permitted topics."""
        raw = params.get("topics", "")
        topics = [t.strip() for t in raw.split(",") if t.strip()] or None
        unknown = sorted(set(topics or ()) - SUBSCRIBED_TOPICS)
        if unknown:
            raise TopFault(
                15,
                "Remote service error",
                "isv.invalid-parameter:topics",
                f"the app has not subscribed: {','.join(unknown)}",
            )
        self.push.permit(topics)
        now = self.clock.now()
        created = self._tmc_permitted_at[0] if self._tmc_permitted_at else now
        self._tmc_permitted_at = (created, now)
        return {"is_success": True}

    def tmc_user_get(self, params: Params) -> dict[str, Any]:
        """``taobao.tmc.user.get``: the shop's permitted topics (an empty answer for others)."""
        fields = {f.strip() for f in params.get("fields", "").split(",") if f.strip()}
        if not fields:
            raise TopFault(40, "Missing Required Arguments", "isv.missing-parameter:fields")
        nick = params.get("nick")
        if not nick:
            raise TopFault(40, "Missing Required Arguments", "isv.missing-parameter:nick")
        if nick != SELLER_NICK or self._tmc_permitted_at is None:
            return {}
        permitted = self.push.permitted
        topics = sorted(SUBSCRIBED_TOPICS if permitted is None else permitted)
        created, modified = self._tmc_permitted_at
        record = {
            "user_nick": SELLER_NICK,
            "user_id": SELLER_ID,
            "is_valid": bool(topics),
            "topics": {"string": topics},
            "created": top_time(created),
            "modified": top_time(modified),
            "group_name": "default",
        }
        return {"tmc_user": {k: v for k, v in record.items() if k in fields}}

    def tmc_auth_get(self, params: Params) -> dict[str, Any]:
        """``taobao.tmc.auth.get``: a connection token for the group."""
        group = params.get("group") or "default"
        if group not in self.tmc_groups:
            raise TopFault(15, "Remote service error", "isv.group-not-exist", f"no group {group}")
        token = uuid.uuid4().hex
        self.tmc_auth_tokens.add(token)
        return {"result": token}
