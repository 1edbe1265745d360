"""Fixtures, and contract checks against Amazon's own OpenAPI models and JSON_LISTINGS_FEED schemas.

:class:`ContractTransport` sits between a channel and the fake: every request the
plugin sends is checked against the operation in Amazon's Swagger 2.0 model (path,
query parameters with their types, enums and limits, the JSON body schema), every
answer the fake gives against the responses the model declares, the uploaded feed
against ``listings-feed-schema-v2.json`` and the processing report against
``listings-feed-processing-report-schema-v2.json``. The LWA token call and the S3
document URLs have no model; they are checked against the reference's rules.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest
from channelsync_amazon import AmazonChannel, AmazonSettings
from channelsync_amazon.fake import DEMO_CREDENTIALS, DEMO_SETTINGS, FakeSellingPartner, demo_fake
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.testing.fakes import Fault

MODELS = Path(__file__).parent / "models"
MODEL_FILES = (
    "ordersV0.json",
    "orders_2026-01-01.json",
    "listingsItems_2021-08-01.json",
    "feeds_2021-06-30.json",
    "fbaInventory.json",
)
_PARAM_KEYWORDS = (
    "type",
    "items",
    "enum",
    "maxItems",
    "minItems",
    "maximum",
    "minimum",
    "format",
    "maxLength",
    "minLength",
    "pattern",
)
FORMATS = FormatChecker()


class ContractViolation(AssertionError):
    """A request or answer that Amazon's model does not allow."""


@dataclass(frozen=True)
class ModelOperation:
    """One operation of a model: where it lives and what it declares."""

    model: str
    operation_id: str
    method: str
    template: tuple[str, ...]
    parameters: tuple[dict[str, Any], ...]
    responses: dict[str, Any]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class AmazonContract:
    """Amazon's models and feed schemas, ready to validate requests and answers."""

    def __init__(self) -> None:
        self.registry: Registry = Registry()
        self.operations: list[ModelOperation] = []
        for name in MODEL_FILES:
            document = _load(MODELS / "models" / name)
            resource = Resource.from_contents(document, default_specification=DRAFT4)
            self.registry = self.registry.with_resource(f"urn:amazon:{name}", resource)
            for path, item in document["paths"].items():
                common = [p for p in item.get("parameters", []) if isinstance(p, dict)]
                for method, operation in item.items():
                    if method not in {"get", "put", "post", "patch", "delete"}:
                        continue
                    self.operations.append(
                        ModelOperation(
                            model=name,
                            operation_id=operation["operationId"],
                            method=method.upper(),
                            template=tuple(path.strip("/").split("/")),
                            parameters=tuple(common + operation.get("parameters", [])),
                            responses=operation["responses"],
                        )
                    )
        self.feed_schema = Draft7Validator(
            _load(MODELS / "schemas" / "listings-feed-schema-v2.json"), format_checker=FORMATS
        )
        self.report_schema = Draft7Validator(
            _load(MODELS / "schemas" / "listings-feed-processing-report-schema-v2.json"),
            format_checker=FORMATS,
        )

    # -- schemas ----------------------------------------------------------------------

    def schema_errors(self, model: str, schema: dict[str, Any], instance: object) -> list[str]:
        """Validate ``instance`` against a schema of ``model`` (``$ref`` resolved in it)."""
        target = self._rebase(schema, model)
        validator = Draft4Validator(target, registry=self.registry, format_checker=FORMATS)
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def _rebase(self, schema: Any, model: str) -> Any:
        if isinstance(schema, dict):
            return {
                k: (f"urn:amazon:{model}{v}" if k == "$ref" else self._rebase(v, model))
                for k, v in schema.items()
            }
        if isinstance(schema, list):
            return [self._rebase(v, model) for v in schema]
        return schema

    def find(self, method: str, segments: tuple[str, ...]) -> ModelOperation | None:
        """Return the operation a method and decoded path segments call."""
        for operation in self.operations:
            if operation.method != method or len(operation.template) != len(segments):
                continue
            if all(
                t.startswith("{") or t == s
                for t, s in zip(operation.template, segments, strict=True)
            ):
                return operation
        return None

    # -- requests ---------------------------------------------------------------------

    def check_request(self, request: httpx.Request) -> str:
        """Validate one outgoing request; return the operation it calls."""
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        segments = tuple(unquote(p) for p in raw_path.strip("/").split("/"))
        has_token = "x-amz-access-token" in request.headers
        if segments == ("auth", "o2", "token"):
            self._check_token_request(request, has_token)
            return "lwaToken"
        if segments[:1] == ("s3",):
            if has_token:
                raise ContractViolation("a pre-signed S3 URL was sent an access token")
            if request.method == "PUT":
                document = json.loads(request.content)
                problems = [e.message for e in self.feed_schema.iter_errors(document)]
                if problems:
                    raise ContractViolation(f"feed document breaks the schema: {problems[:3]}")
                return "uploadFeedDocument"
            return "downloadFeedDocument"
        operation = self.find(request.method, segments)
        if operation is None:
            raise ContractViolation(f"{request.method} {raw_path} is no operation of the models")
        if not has_token:
            raise ContractViolation(f"{operation.operation_id} sent without x-amz-access-token")
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        names = [name for name, _ in query]
        if len(names) != len(set(names)):
            raise ContractViolation(f"{operation.operation_id}: repeated query parameter")
        values = dict(query)
        declared = {p["name"]: p for p in operation.parameters}
        problems: list[str] = []
        for name in values:
            if declared.get(name, {}).get("in") != "query":
                problems.append(f"undeclared query parameter {name!r}")
        for name, parameter in declared.items():
            where = parameter.get("in")
            if where == "query":
                if name in values:
                    problems += self._check_parameter(parameter, values[name])
                elif parameter.get("required"):
                    problems.append(f"required query parameter {name!r} missing")
            elif where == "body":
                problems += self._check_body(operation, parameter, request)
        if problems:
            raise ContractViolation(f"{operation.operation_id} request: {problems}")
        return operation.operation_id

    def _check_token_request(self, request: httpx.Request, has_token: bool) -> None:
        if has_token or request.method != "POST":
            raise ContractViolation("the LWA token call is a POST without an access token")
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(request.content.decode("utf-8")))
        elif kind.startswith("application/json"):
            fields = json.loads(request.content)
        else:
            raise ContractViolation(f"LWA body of type {kind!r}")
        wanted = {"grant_type", "refresh_token", "client_id", "client_secret"}
        if set(fields) != wanted or fields["grant_type"] != "refresh_token":
            raise ContractViolation(f"LWA refresh grant fields are {sorted(fields)}")

    def _check_parameter(self, parameter: dict[str, Any], raw: str) -> list[str]:
        schema = {k: parameter[k] for k in _PARAM_KEYWORDS if k in parameter}
        kind = parameter.get("type")
        value: object = raw
        try:
            if kind == "array":
                if parameter.get("collectionFormat", "csv") != "csv":
                    return [f"{parameter['name']}: only csv arrays are sent"]
                value = raw.split(",")
            elif kind == "integer":
                value = int(raw)
            elif kind == "boolean":
                if raw not in ("true", "false"):
                    return [f"{parameter['name']}: {raw!r} is not a boolean"]
                value = raw == "true"
        except ValueError:
            return [f"{parameter['name']}: {raw!r} is not {kind}"]
        validator = Draft4Validator(schema, format_checker=FORMATS)
        return [f"{parameter['name']}: {e.message}" for e in validator.iter_errors(value)]

    def _check_body(
        self, operation: ModelOperation, parameter: dict[str, Any], request: httpx.Request
    ) -> list[str]:
        if not request.content:
            return ["body missing"] if parameter.get("required") else []
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return ["body is not application/json"]
        body = json.loads(request.content)
        return self.schema_errors(operation.model, parameter["schema"], body)

    # -- answers ----------------------------------------------------------------------

    def check_response(
        self, operation_id: str, request: httpx.Request, response: httpx.Response
    ) -> None:
        """Validate one answer of the fake to a request of ``operation_id``."""
        content = response.read()
        if operation_id == "lwaToken":
            body = json.loads(content)
            if response.status_code == 200:
                ok = isinstance(body.get("access_token"), str) and isinstance(
                    body.get("expires_in"), int
                )
            else:
                ok = isinstance(body.get("error"), str)
            if not ok:
                raise ContractViolation(f"LWA answer {response.status_code}: {sorted(body)}")
            return
        if operation_id == "downloadFeedDocument":
            if response.status_code == 200:
                report = json.loads(
                    gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
                )
                problems = [e.message for e in self.report_schema.iter_errors(report)]
                if problems:
                    raise ContractViolation(f"processing report breaks the schema: {problems[:3]}")
            return
        if operation_id == "uploadFeedDocument":
            return
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        segments = tuple(unquote(p) for p in raw_path.strip("/").split("/"))
        operation = self.find(request.method, segments)
        assert operation is not None
        declared = operation.responses.get(str(response.status_code)) or operation.responses.get(
            "default"
        )
        if declared is None:
            raise ContractViolation(
                f"{operation_id} answered HTTP {response.status_code}, undeclared in the model"
            )
        if "x-amzn-RequestId" not in response.headers:
            raise ContractViolation(f"{operation_id} answer has no x-amzn-RequestId")
        schema = declared.get("schema")
        if schema is None:
            if content:
                raise ContractViolation(f"{operation_id} HTTP {response.status_code} has a body")
            return
        problems = self.schema_errors(operation.model, schema, json.loads(content))
        if problems:
            raise ContractViolation(f"{operation_id} answer {response.status_code}: {problems[:5]}")


CONTRACT = AmazonContract()


class ContractTransport(httpx.MockTransport):
    """An in-process transport to a fake that validates both directions of every call.

    Answers the fake mangled on purpose (injected malformed or truncated bodies) are
    not held to the model; everything else is.
    """

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.checked: Counter[str] = Counter()
        super().__init__(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        operation = CONTRACT.check_request(request)
        before = self._mangled()
        response: httpx.Response = self.fake(request)
        mangled = self._mangled() != before
        if not mangled:
            CONTRACT.check_response(operation, request, response)
        self.checked[operation] += 1
        return response

    def _mangled(self) -> int:
        injected = self.fake.faults.injected
        return injected[Fault.MALFORMED] + injected[Fault.TRUNCATED]


START = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
BASE_URL = "https://sellingpartnerapi-na.amazon.com"
NAME = "amazon-us"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock) -> FakeSellingPartner:
    return demo_fake(clock=clock)


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend({(NAME, field): value for field, value in DEMO_CREDENTIALS.items()})


@pytest.fixture
def contract() -> AmazonContract:
    return CONTRACT


@pytest.fixture
def wire(fake: FakeSellingPartner) -> ContractTransport:
    """The contract-checking transport every channel in these tests talks through."""
    return ContractTransport(fake)


@pytest.fixture
def make(
    wire: ContractTransport, clock: FakeClock, backend: MemorySecretBackend
) -> Callable[..., AmazonChannel]:
    """Build a channel on the fake (not yet open); keyword arguments are settings."""

    def build(**settings: Any) -> AmazonChannel:
        store = CredentialStore(backend=backend, environ={})
        values = {**DEMO_SETTINGS, "token_url": "https://api.amazon.com/auth/o2/token", **settings}
        return AmazonChannel(
            NAME,
            AmazonSettings.model_validate(values),
            store.for_channel(NAME),
            transport=wire,
            clock=clock,
        )

    return build


@pytest.fixture
async def channel(make: Callable[..., AmazonChannel]) -> AsyncIterator[AmazonChannel]:
    async with make() as opened:
        yield opened
