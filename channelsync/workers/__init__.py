"""The daemon's per-channel steps as procrastinate jobs on PostgreSQL, for many workers.

``channelsync run`` works every channel in one process. ``channelsync worker`` runs the
same steps as jobs of a `procrastinate <https://procrastinate.readthedocs.io>`_ queue
in the store's PostgreSQL database, so any number of worker processes on any number
of machines share the work:

* :mod:`~channelsync.workers.app` builds the procrastinate app: one task per step
  (pull orders, pull refunds, flush, reconcile), the clock, the stalled-job sweep and
  the personal-data erasure, each job carrying its channel's lock and queueing lock;
* :mod:`~channelsync.workers.runtime` is what a worker process keeps between jobs: the
  engine, its open channels, and each step as the daemon runs it;
* :mod:`~channelsync.workers.deferring` puts a step in the queue (once: a pending copy
  makes a second deferral a no-op);
* :mod:`~channelsync.workers.on_commit` defers a channel's flush in the very
  transaction that queued outbox work for it;
* :mod:`~channelsync.workers.clock` decides which steps fall due on a tick;
* :mod:`~channelsync.workers.stalled` gives the jobs of a killed worker back to the queue,
  and :mod:`~channelsync.workers.manager` retries a job only where no pending copy does
  its step;
* :mod:`~channelsync.workers.fencing` fences a worker taken for dead that comes back: a
  lease epoch per channel step, checked at every commit;
* :mod:`~channelsync.workers.pacing` shares each channel's rate limits between workers
  (a schedule per channel and operation in the store);
* :mod:`~channelsync.workers.schema` installs the queue's tables (``store migrate``);
* :mod:`~channelsync.workers.running` runs a worker until stopped (or once);
* :mod:`~channelsync.workers.presence` tells whether workers are alive on a store
  (plain SQL: ``channelsync run`` asks it before working a store).

Only :mod:`~channelsync.workers.presence` is imported by channelsync's other packages
(it needs nothing optional); for the rest the optional dependency
(``pip install 'channelsync[workers]'``) is needed only by what imports these modules,
and :mod:`~channelsync.workers.extra` checks for it without importing it.
"""

from __future__ import annotations
