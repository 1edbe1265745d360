"""The SQS queue Amazon writes a seller's notifications to, known from its URL.

A queue URL (``https://sqs.us-east-2.amazonaws.com/444455556666/queue1``) names
everything the plugin needs: the endpoint to call (scheme and host), the AWS region
(a host label such as ``us-east-2``; the legacy ``queue.amazonaws.com`` is
``us-east-1``), the account id and queue name (the path), and so the queue's ARN
``arn:aws:sqs:us-east-2:444455556666:queue1`` that ``createDestination`` registers.
A host that names no region (a local test server, a private DNS name for a VPC
endpoint) needs the region given separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from channelsync.http.client import is_loopback_url

__all__ = ["SqsQueue", "parse_queue_url"]

_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_ACCOUNT = re.compile(r"^\d{12}$")
# Standard queue names: 1 to 80 letters, digits, hyphens and underscores.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class SqsQueue:
    """One SQS queue: its URL, the endpoint and region to call, its account, name and ARN."""

    url: str
    endpoint_url: str
    region: str
    account_id: str
    name: str

    @property
    def partition(self) -> str:
        """The AWS partition of the queue's region."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def arn(self) -> str:
        """The queue's ARN, as ``createDestination`` wants it."""
        return f"arn:{self.partition}:sqs:{self.region}:{self.account_id}:{self.name}"


def _region_of(host: str) -> str | None:
    labels = host.lower().split(".")
    if labels[-2:] == ["amazonaws", "com"] and labels[0] == "queue":
        return "us-east-1"  # the legacy global endpoint
    if "amazonaws" not in labels:
        return None
    return next((label for label in labels if _REGION.match(label)), None)


def parse_queue_url(url: str, *, region: str | None = None) -> SqsQueue:
    """Read an SQS queue URL; ``region`` overrides (or supplies) the host's region.

    Raises ``ValueError`` naming what is wrong: not an https URL (http only for a
    loopback test server), no ``/<12-digit account>/<queue name>`` path, a FIFO
    queue (Amazon delivers notifications to standard queues), or no region.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/…)")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise ValueError("an SQS queue URL must be https (http only for a loopback test server)")
    if parts.query or parts.fragment:
        raise ValueError("an SQS queue URL has no query string or fragment")
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) != 2 or not _ACCOUNT.match(segments[0]):
        raise ValueError(
            "an SQS queue URL ends in /<12-digit account id>/<queue name>, "
            f"not {parts.path or '/'!r}"
        )
    account_id, name = segments
    if name.endswith(".fifo"):
        raise ValueError(
            f"queue {name!r} is a FIFO queue; Amazon sends notifications to standard queues"
        )
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not an SQS queue name (1-80 letters, digits, - and _)")
    found = region or _region_of(parts.hostname)
    if found is None:
        raise ValueError(
            f"the host {parts.hostname!r} names no AWS region: set events_region "
            "(for example us-east-1)"
        )
    if not _REGION.match(found):
        raise ValueError(f"{found!r} is not an AWS region name (for example us-east-1)")
    return SqsQueue(
        url=f"{parts.scheme}://{parts.netloc}/{account_id}/{name}",
        endpoint_url=f"{parts.scheme}://{parts.netloc}",
        region=found,
        account_id=account_id,
        name=name,
    )
