"""Amazon SQS for the fake: moto's SQS served on loopback, behind a signature check.

moto implements SQS faithfully (standard queues, long polls, visibility timeouts,
receipt handles, retention) but accepts any AWS keys. Real SQS refuses a request
whose Signature Version 4 does not verify, and so does :class:`SignedSqsServer`: a
WSGI gate in front of moto's application recomputes every request's signature with
botocore's own SigV4 signer and the secret key of the access key it names, and
answers ``InvalidClientTokenId`` (unknown key or session token) or
``SignatureDoesNotMatch`` (403) the way SQS does, in the protocol the client spoke
(JSON or query).

The server is :class:`moto.server.ThreadedMotoServer` with the gate added; moto
keeps its queues in process-wide state, so each fake uses its own queue name.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from channelsync_amazon.fake.aws_keys import AwsKey

__all__ = ["AwsKey", "SigV4Gate", "SignedSqsServer"]

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_INVALID_KEY = "The security token included in the request is invalid."
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _environ_header(name: str) -> str:
    if name in ("content-type", "content-length"):
        return name.upper().replace("-", "_")
    return "HTTP_" + name.upper().replace("-", "_")


class SigV4Gate:
    """WSGI middleware: lets a request through to ``app`` only if its SigV4 signature verifies."""

    def __init__(
        self,
        app: WsgiApp,
        keys: Callable[[], Mapping[str, AwsKey]],
        *,
        outage_spares: frozenset[str] = frozenset(),
    ) -> None:
        self._app = app
        self._keys = keys
        self._spared = outage_spares
        #: Requests refused, by error code (for tests).
        self.refused: dict[str, int] = {}
        #: Answer this many of the next requests with 503 ``ServiceUnavailable`` (an
        #: outage), except those of the access keys in ``outage_spares`` (the fake's own).
        self.outage = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer a refused request as SQS does, pass the others on to moto."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        match = _AUTHORIZATION.match(str(environ.get("HTTP_AUTHORIZATION", "")))
        if self.outage > 0 and (match is None or match["key"] not in self._spared):
            self.outage -= 1
            self.refused["ServiceUnavailable"] = self.refused.get("ServiceUnavailable", 0) + 1
            return _refuse(
                environ,
                start_response,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                status="503 Service Unavailable",
                fault="Receiver",
            )
        problem = self.check(environ, body)
        if problem is None:
            return self._app(environ, start_response)
        self.refused[problem] = self.refused.get(problem, 0) + 1
        message = _INVALID_KEY if problem == "InvalidClientTokenId" else _BAD_SIGNATURE
        return _refuse(environ, start_response, problem, message)

    def check(  # noqa: PLR0911 - one early refusal per check, in SQS's order
        self, environ: Mapping[str, Any], body: bytes
    ) -> str | None:
        """Return the SQS error code that refuses the request, or ``None`` when it verifies."""
        match = _AUTHORIZATION.match(str(environ.get("HTTP_AUTHORIZATION", "")))
        if match is None:
            return "InvalidClientTokenId"
        key = self._keys().get(match["key"])
        if key is None:
            return "InvalidClientTokenId"
        if key.session_token is not None and (
            environ.get("HTTP_X_AMZ_SECURITY_TOKEN") != key.session_token
        ):
            return "InvalidClientTokenId"
        timestamp = str(environ.get("HTTP_X_AMZ_DATE", ""))
        if not timestamp.startswith(match["date"]):
            return "SignatureDoesNotMatch"
        raw_uri = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        request = AWSRequest(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            url=f"{scheme}://{environ.get('HTTP_HOST', '')}{raw_uri}",
            data=body,
        )
        for name in match["headers"].split(";"):
            if name == "host":
                continue  # signed from the URL's host, as the client did
            value = environ.get(_environ_header(name))
            if value is None:
                return "SignatureDoesNotMatch"
            request.headers[name] = str(value)
        request.context["timestamp"] = timestamp
        signer = SigV4Auth(
            Credentials(key.access_key_id, key.secret_access_key, key.session_token),
            match["service"],
            match["region"],
        )
        if signer.signed_headers(signer.headers_to_sign(request)) != match["headers"]:
            return "SignatureDoesNotMatch"
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return None if expected == match["signature"] else "SignatureDoesNotMatch"


def _refuse(
    environ: Mapping[str, Any],
    start_response: Callable[..., Any],
    code: str,
    message: str,
    *,
    status: str = "403 Forbidden",
    fault: str = "Sender",
) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-amz-json"):
        kind = "UnrecognizedClientException" if code == "InvalidClientTokenId" else code
        body = json.dumps(
            {"__type": f"com.amazon.coral.service#{kind}", "message": message}
        ).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", f"{code};{fault}"),
        ]
    else:
        body = (
            '<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/'
            f'2012-11-05/"><Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}'
            f"</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Request lines go to stderr otherwise; the fake stays quiet like its HTTP servers.
        return


class SignedSqsServer(ThreadedMotoServer):
    """moto's threaded server with :class:`SigV4Gate` in front of its application."""

    def __init__(
        self,
        keys: Callable[[], Mapping[str, AwsKey]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        outage_spares: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.gate: SigV4Gate | None = None
        self._keys = keys
        self._spared = outage_spares

    def _server_entry(self) -> None:
        # ThreadedMotoServer's own entry, with the gate wrapped around moto's application.
        self.gate = SigV4Gate(
            DomainDispatcherApplication(create_backend_app),
            self._keys,
            outage_spares=self._spared,
        )
        self._server = make_server(
            self._ip_address, self._port, self.gate, True, request_handler=_QuietHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)  # stop() waits one interval

    @property
    def endpoint_url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:50123``."""
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and release the port."""
        super().stop()
        if self._server is not None:
            self._server.server_close()
