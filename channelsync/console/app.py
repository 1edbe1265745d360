"""The console's ASGI application: routes, content negotiation, the token on changes.

Every page answers HTML to a browser and the same data as JSON to a request that
accepts ``application/json``. An htmx request (header ``HX-Request``) gets the page's
live part only. State changes are POSTs that need the bearer token (401 without it).
Store reads run in a worker thread, so a page never holds up the daemon's loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from channelsync.console import actions
from channelsync.console.pages.orders import order_detail, order_list
from channelsync.console.pages.overview import overview
from channelsync.console.pages.parked import parked
from channelsync.console.pages.reports import DEFAULT_DAYS, report_data, sales_report
from channelsync.console.pages.skus import sku_page, sku_search
from channelsync.console.security import authorize, same_origin
from channelsync.console.source import ConsoleSource
from channelsync.engine.errors import InputError
from channelsync.report import ReportOptionError, ReportPlotUnavailableError
from channelsync.report.plot import sales_png

__all__ = ["build_app"]

_HERE = Path(str(files("channelsync.console")))
_SECURITY_HEADERS = {
    # Scripts, styles and images only from the console itself: no inline code to inject into.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def build_app(
    source: ConsoleSource, *, token: str | None, refresh_seconds: float = 2.0
) -> Starlette:
    """Return the console application reading ``source``; ``token`` guards every change."""
    console = _Console(source, token, refresh_seconds)
    return Starlette(
        routes=console.routes(),
        middleware=[Middleware(_SecurityHeaders)],
        exception_handlers={
            HTTPException: console.http_error,
            ReportOptionError: console.bad_option,
        },
    )


class _Console:
    """The console's endpoints over one source."""

    def __init__(self, source: ConsoleSource, token: str | None, refresh_seconds: float) -> None:
        self.source = source
        self.token = token
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self.templates.env.globals["refresh_ms"] = int(refresh_seconds * 1000)
        self.templates.env.globals["version"] = source.version
        self.templates.env.filters["when"] = _when

    def routes(self) -> list[BaseRoute]:
        source = self.source
        return [
            Route("/", self.home, name="overview"),
            Route("/skus", self.skus, name="skus"),
            Route("/skus/{code:path}", self.sku, name="sku"),
            Route("/orders", self.orders, name="orders"),
            Route("/orders/{channel}/{order_id:path}", self.order, name="order"),
            Route("/parked", self.parked, name="parked"),
            Route(
                "/parked/retry",
                self.change(
                    lambda f, who: actions.retry_parked(
                        source, channel=f["channel"], kind=f["kind"], key=f["key"], who=who
                    ),
                    self.parked,
                ),
                methods=["POST"],
            ),
            Route(
                "/parked/drop",
                self.change(
                    lambda f, who: actions.drop_parked(
                        source,
                        channel=f["channel"],
                        kind=f["kind"],
                        key=f["key"],
                        reason=f["reason"],
                        who=who,
                    ),
                    self.parked,
                ),
                methods=["POST"],
            ),
            Route(
                "/channels/{channel}/pause",
                self.change(
                    lambda f, who: actions.pause(
                        source, channel=f["channel"], reason=f["reason"], who=who
                    ),
                    self.home,
                ),
                methods=["POST"],
            ),
            Route(
                "/channels/{channel}/resume",
                self.change(
                    lambda f, who: actions.resume(source, channel=f["channel"], who=who),
                    self.home,
                ),
                methods=["POST"],
            ),
            Route("/reports", self.reports, name="reports"),
            Route("/reports/sales.png", self.sales_plot, name="sales_plot"),
            Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
        ]

    def page(self, request: Request, template: str, data: dict[str, Any]) -> Response:
        """Answer ``data`` as JSON, or rendered (only its live part for an htmx refresh)."""
        if _wants_json(request):
            return _json(data, 200)
        name = template
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "live":
            name = template.replace(".html", "_live.html")
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.templates.TemplateResponse(request, name, {"data": data, "url": url})

    async def home(self, request: Request) -> Response:
        return self.page(request, "overview.html", await run_in_threadpool(overview, self.source))

    async def skus(self, request: Request) -> Response:
        text = request.query_params.get("q", "")
        found = await run_in_threadpool(sku_search, self.source, text)
        if not _wants_json(request) and text.strip() in found["codes"]:
            return RedirectResponse(request.url_for("sku", code=text.strip()), status_code=303)
        return self.page(request, "skus.html", found)

    async def sku(self, request: Request) -> Response:
        code = request.path_params["code"]
        data = await run_in_threadpool(sku_page, self.source, code)
        if data is None:
            raise HTTPException(404, f"no SKU has the merchant code {code!r}")
        return self.page(request, "sku.html", data)

    async def orders(self, request: Request) -> Response:
        query = request.query_params
        page = _int(query.get("page"), 1, "page")
        data = await run_in_threadpool(
            lambda: order_list(
                self.source,
                channel=query.get("channel") or None,
                status=query.get("status") or None,
                page=page,
            )
        )
        return self.page(request, "orders.html", data)

    async def order(self, request: Request) -> Response:
        channel, order_id = request.path_params["channel"], request.path_params["order_id"]
        data = await run_in_threadpool(order_detail, self.source, channel, order_id)
        if data is None:
            raise HTTPException(404, f"no order {order_id!r} on {channel!r}")
        return self.page(request, "order.html", data)

    async def parked(self, request: Request) -> Response:
        channel = request.query_params.get("channel") or None
        data = await run_in_threadpool(lambda: parked(self.source, channel=channel))
        return self.page(request, "parked.html", data)

    async def reports(self, request: Request) -> Response:
        days = _int(request.query_params.get("days"), DEFAULT_DAYS, "days")
        report = await run_in_threadpool(sales_report, self.source, days)
        return self.page(request, "reports.html", report_data(report, days))

    async def sales_plot(self, request: Request) -> Response:
        days = _int(request.query_params.get("days"), DEFAULT_DAYS, "days")
        report = await run_in_threadpool(sales_report, self.source, days)
        try:
            image = await run_in_threadpool(sales_png, report)
        except ReportPlotUnavailableError as error:
            raise HTTPException(404, str(error)) from None
        return Response(image, media_type="image/png")

    def change(
        self, act: Callable[[_Fields, str], str], then: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a state change: same origin, the token, its fields, then the page it changed."""

        async def endpoint(request: Request) -> Response:
            same_origin(request)
            who = authorize(request, self.token)
            fields = _Fields({**await _fields(request), **request.path_params})
            if not fields["reason"] and request.headers.get("hx-prompt"):
                # A page asks for the reason with a prompt; htmx sends the answer as a header.
                fields["reason"] = unquote(request.headers["hx-prompt"])
            try:
                message = await run_in_threadpool(act, fields, who)
            except InputError as error:
                raise HTTPException(400, str(error)) from None
            if self.source.daemon is not None:
                # In the loop (not the worker thread): the flush loop's wake-up is an asyncio event.
                self.source.daemon.wake(fields["channel"])
            if _wants_json(request):
                return _json({"ok": True, "message": message}, 200)
            if request.headers.get("hx-request"):
                response = await then(request)
                response.headers["HX-Trigger"] = json.dumps({"console-flash": message})
                return response
            return RedirectResponse(request.headers.get("referer") or "/", status_code=303)

        return endpoint

    async def http_error(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if _wants_json(request) or request.method != "GET" or request.headers.get("hx-request"):
            return JSONResponse(
                {"error": error.detail}, status_code=error.status_code, headers=error.headers
            )
        return self.templates.TemplateResponse(
            request,
            "error.html",
            {"data": {"error": error.detail, "status": error.status_code}, "url": ""},
            status_code=error.status_code,
            headers=error.headers,
        )

    async def bad_option(self, request: Request, error: Exception) -> Response:
        return await self.http_error(request, HTTPException(400, str(error)))


class _Fields(dict[str, str]):
    """A POST's fields; a missing one reads as empty, for the action to name."""

    def __missing__(self, key: str) -> str:
        return ""


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json(data: Any, status_code: int) -> Response:
    body = json.dumps(data, default=_plain, ensure_ascii=False)
    return Response(body, status_code=status_code, media_type="application/json")


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot encode {type(value).__name__}")


def _int(text: str | None, default: int, name: str) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, not {text!r}") from None
    if not 1 <= value <= 10_000:
        raise HTTPException(400, f"{name} must be between 1 and 10000, not {value}")
    return value


async def _fields(request: Request) -> dict[str, str]:
    """Read a POST's fields from a JSON object or a URL-encoded form."""
    body = await request.body()
    if not body:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise HTTPException(400, "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return {str(k): str(v) for k, v in data.items() if v is not None}
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise HTTPException(400, "the request body is not UTF-8 text") from None
    return {name: values[-1] for name, values in form.items()}


def _when(value: str | None) -> str:
    """Show an ISO time as ``YYYY-MM-DD HH:MM:SS`` (UTC offset kept), or a dash."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")
