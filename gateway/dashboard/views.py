"""The operator dashboard: server-rendered pages (Jinja2) behind the operator login, Vietnamese first.

Sessions are the API's own access tokens in an ``HttpOnly``, ``SameSite=Strict`` cookie; every form
carries a CSRF token derived from the session, so a page on another site cannot post on an
operator's behalf. Pages need ``ops:read``; replay, cancel and quarantine replay need ``ops:write``
and are audited with the operator's account, like the same actions through the API.
"""

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import select
from starlette.requests import Request as StarletteRequest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import resources
from gateway.api.schemas import MAX_ID, DeliveryId
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.coverage import unsent_outside
from gateway.dashboard import charts, data, exchange_pages
from gateway.dashboard.i18n import DEFAULT, LANGUAGES, Translator
from gateway.db.models import Delivery, DeliveryState, Observation, Packet, StatusReceipt
from gateway.delivery.queues import destinations
from gateway.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from gateway.reconciliation.export import to_csv, to_xlsx
from gateway.reconciliation.report import CLASSES
from gateway.scheduler import upcoming
from mappings.indicators import IndicatorMapping

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "gw_session"
LANG_COOKIE = "gw_lang"
RECON_PAGE = 100
REFRESH_SECONDS = 30  # the overview reloads its content this often (``?refresh=N`` to change)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLASS_CSS = {
    "match": "ok",
    "unsent": "warn",
    "pending": "info",
    "duplicate": "warn",
}


def _lang(context: Any) -> str:
    return str(context.get("lang", DEFAULT))


@pass_context
def _vn(context: Any, value: datetime | None) -> str:
    """A time in Asia/Ho_Chi_Minh, written the page's way (Babel)."""
    return Translator(_lang(context)).when(value)


@pass_context
def _age(context: Any, value: Any) -> str:
    return Translator(_lang(context)).age(value)


@pass_context
def _num(context: Any, value: object) -> str:
    return Translator(_lang(context)).num(value)


@pass_context
def _day(context: Any, value: Any) -> str:
    return Translator(_lang(context)).day(value)


def mapping_files() -> dict[str, Path]:
    """The indicator mappings an operator may choose: the operator's folders, then the bundled ones
    (``gateway.resources``: an installed wheel lists its own files; an override hides a bundled file)."""
    return resources.listing("indicators", "*.yaml")


class MappingUnavailable(Exception):
    """The chosen mapping is not a listed file, or does not load: the page says which and why."""

    def __init__(self, key: str, name: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.key, self.name, self.detail, self.status = key, name, detail, status


def chosen_mapping(name: str) -> IndicatorMapping:
    """The listed mapping file ``name``, loaded (``gateway.ingest.replay_mapping``, as the API does)."""
    from gateway.ingest import replay_mapping

    try:
        return replay_mapping(name)
    except NotFound as exc:
        raise MappingUnavailable("mapping_not_found", name, str(exc), 404) from exc
    except Conflict as exc:
        raise MappingUnavailable("mapping_unusable", name, str(exc), 409) from exc


def _templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters["vn"] = _vn
    found.env.filters["age"] = _age
    found.env.filters["num"] = _num
    found.env.filters["day"] = _day
    return found


TEMPLATES = _templates()


def lang_of(request: StarletteRequest) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def _principal_of(request: StarletteRequest) -> Principal | None:
    """The signed-in operator, if any, so an error page keeps the navigation (never raises)."""
    token = request.cookies.get(COOKIE)
    security = getattr(request.app.state, "security", None) if "app" in request.scope else None
    if not token or security is None:
        return None
    try:
        found: Principal = security.authenticate(token)
    except Exception:
        return None
    return found


def error_page(
    request: StarletteRequest,
    status: int,
    *,
    message: str = "",
    detail: str = "",
    principal: Principal | None = None,
) -> HTMLResponse:
    """An error as a dashboard page in the operator's language, with the status code kept (a 404 is
    still a 404 for the browser and for monitoring)."""
    t = Translator(lang_of(request))
    if principal is None:
        principal = _principal_of(request)
    title = t(f"error_title_{status}") if t.has(f"error_title_{status}") else t("error_title")
    text = message or (t(f"error_text_{status}") if t.has(f"error_text_{status}") else "")
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {
            "t": t,
            "lang": t.lang,
            "principal": principal,
            "can_write": False,
            "can_read": bool(principal and principal.may(Permission.OPS_READ)),
            "can_see_approvals": bool(principal and principal.may(Permission.APPROVALS)),
            "csrf": "",
            "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "msg": None,
            "status": status,
            "title": title,
            "text": text,
            "detail": detail,
        },
        status_code=status,
    )


def build_router(security: Security) -> APIRouter:
    gw = security.gateway
    router = APIRouter(prefix="/ui", include_in_schema=False)
    templates = TEMPLATES
    memo = data.ReconciliationMemo()  # one period's report, reused while nothing changed (paging, filters)
    secure_cookie = gw.settings.api.host not in ("127.0.0.1", "localhost", "::1")

    def csrf_of(token: str) -> str:
        return hmac.new(security.tokens.keys[0][1], f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:32]

    def session_of(request: Request, permission: Permission) -> tuple[Principal, str]:
        token = request.cookies.get(COOKIE)
        principal = security.authenticate(token)
        if not principal.may(permission):
            raise security.deny(principal, request, f"role {principal.role} may not {permission.value}")
        assert token is not None
        return principal, token

    def render(
        request: Request, name: str, principal: Principal | None, token: str | None, **context: Any
    ) -> HTMLResponse:
        t = Translator(lang_of(request))
        return templates.TemplateResponse(
            request,
            name,
            {
                "t": t,
                "lang": t.lang,
                "principal": principal,
                "can_write": bool(principal and principal.may(Permission.OPS_WRITE)),
                "can_read": bool(principal and principal.may(Permission.OPS_READ)),
                "can_see_approvals": bool(principal and principal.may(Permission.APPROVALS)),
                "csrf": csrf_of(token) if token else "",
                "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                "msg": request.query_params.get("msg"),
                **context,
            },
        )

    def signed_in(permission: Permission) -> Callable[[Request], tuple[Principal, str]]:
        """The page's operator and session token; anonymous callers go to the login page, and a role
        without the permission gets an audited 403."""

        def dependency(request: Request) -> tuple[Principal, str]:
            try:
                return session_of(request, permission)
            except Unauthenticated as exc:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise LoginRequired(target) from exc

        return dependency

    Reader = Annotated[tuple[Principal, str], Depends(signed_in(Permission.OPS_READ))]
    Writer = Annotated[tuple[Principal, str], Depends(signed_in(Permission.OPS_WRITE))]

    def check_csrf(token: str, offered: str) -> None:
        if not hmac.compare_digest(csrf_of(token), offered or ""):
            raise Forbidden("the form's CSRF token does not match the session")

    # ------------------------------------------------------------------ session
    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/ui/", failed: bool = False) -> HTMLResponse:
        return render(request, "login.html", None, None, next=_safe_next(next), failed=failed)

    @router.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)],
        password: Annotated[str, Form(max_length=500)],
        next: Annotated[str, Form(max_length=2000)] = "/ui/",
    ) -> Response:
        if _cross_site(request):
            return error_page(request, 403, detail="the login form was posted from another site")
        caller = request.client.host if request.client else "unknown"
        try:
            principal = security.login("user", username, password, caller, channel="dashboard")
        except (Unauthenticated, RateLimited):
            return RedirectResponse(f"/ui/login?failed=1&next={quote(_safe_next(next))}", status_code=303)
        token, ttl = security.tokens.issue(principal)
        target = _safe_next(next)
        if target == "/ui/" and not principal.may(Permission.OPS_READ):
            target = "/ui/approvals"  # an approver's home: the reports waiting for a decision
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure_cookie, path="/ui"
        )
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        """End the session on the server too: the token is refused from now on, wherever presented."""
        if _cross_site(request):
            return error_page(request, 403, detail="the logout form was posted from another site")
        token = request.cookies.get(COOKIE)
        if token:
            security.revoke(token)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    @router.get("/lang/{lang}")
    def set_language(lang: str, next: str = "/ui/") -> Response:
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(LANG_COOKIE, lang if lang in LANGUAGES else DEFAULT, max_age=365 * 86400, path="/ui")
        return response

    # ------------------------------------------------------------------ pages
    @router.get("/", response_class=HTMLResponse)
    def overview(
        request: Request, found: Reader, refresh: Annotated[int, Query(ge=2, le=3600)] = REFRESH_SECONDS
    ) -> Response:
        """The current state; the page reloads its content every ``refresh`` seconds (app.js, or a
        meta refresh without JavaScript)."""
        principal, token = found
        t = Translator(lang_of(request))
        now = gw.clock.now()
        with gw.sessions() as session:
            rows = destinations(session, list(gw.settings.destinations), gw.circuits.snapshot(), now)
            hourly = data.activity(session, now, hours=24)
            daily = data.activity(session, now, days=30)
            due = upcoming(session, now)[:10]
            late = data.late_reports(session, now)
        return render(
            request,
            "overview.html",
            principal,
            token,
            rows=rows,
            states=[s.value for s in DeliveryState],
            chart_24h=charts.stacked_bars(
                hourly,
                title=t("deliveries_24h"),
                ok_label=t("legend_ok"),
                failed_label=t("legend_failed"),
                number=t.num,
            ),
            chart_30d=charts.stacked_bars(
                daily,
                title=t("deliveries_30d"),
                ok_label=t("legend_ok"),
                failed_label=t("legend_failed"),
                number=t.num,
            ),
            due=due,
            late=late,
            refresh=refresh,
            now=now,
        )

    @router.get("/deliveries", response_class=HTMLResponse)
    def deliveries_page(
        request: Request,
        found: Reader,
        state: Annotated[str | None, Query(max_length=20)] = None,
        destination: Annotated[str | None, Query(max_length=100)] = None,
        before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> Response:
        principal, token = found
        with gw.sessions() as session:
            rows, more = data.deliveries(session, state=state or None, destination=destination or None, before=before)
        return render(
            request,
            "deliveries.html",
            principal,
            token,
            rows=rows,
            more=more,
            state=state or "",
            destination=destination or "",
            states=[s.value for s in DeliveryState],
            destinations=sorted(gw.settings.destinations),
        )

    @router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
    def delivery_page(request: Request, found: Reader, delivery_id: DeliveryId) -> Response:
        principal, token = found
        with gw.sessions() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            history = data.attempts(session, delivery_id)
            packet = session.get(Packet, delivery.packet_id)
        state = DeliveryState(delivery.state)
        return render(
            request,
            "delivery.html",
            principal,
            token,
            d=delivery,
            packet=packet,
            history=history,
            can_replay=state in (DeliveryState.DEAD, DeliveryState.REJECTED, DeliveryState.RETURNED),
            can_cancel=state
            in (DeliveryState.PENDING, DeliveryState.DEAD, DeliveryState.REJECTED, DeliveryState.RETURNED),
        )

    @router.post("/deliveries/{delivery_id}/replay")
    def replay(found: Writer, delivery_id: DeliveryId, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        principal, token = found
        check_csrf(token, csrf)
        replayed = gw.delivery_service("dashboard").replay([delivery_id], actor=principal.actor)
        gw.publish(replayed)
        return RedirectResponse(f"/ui/deliveries/{delivery_id}?msg=replayed", status_code=303)

    @router.post("/deliveries/{delivery_id}/cancel")
    def cancel(
        found: Writer,
        delivery_id: DeliveryId,
        reason: Annotated[str, Form(min_length=3, max_length=1000)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        principal, token = found
        check_csrf(token, csrf)
        try:
            gw.delivery_service("dashboard").cancel(delivery_id, actor=principal.actor, reason=reason)
        except Conflict:
            return RedirectResponse(f"/ui/deliveries/{delivery_id}", status_code=303)
        return RedirectResponse(f"/ui/deliveries/{delivery_id}?msg=cancelled", status_code=303)

    @router.get("/dead", response_class=HTMLResponse)
    def dead_page(
        request: Request,
        found: Reader,
        before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    ) -> Response:
        principal, token = found
        with gw.sessions() as session:
            # Dead and rejected (TU_CHOI) alike wait for an operator's replay or cancel: one list.
            waiting = (DeliveryState.DEAD.value, DeliveryState.REJECTED.value)
            dead, more_dead = data.deliveries(session, state=waiting, destination=None, before=before)
            held, more_held = data.quarantine(session, after=after)
            outside = unsent_outside(session)
        return render(
            request,
            "dead.html",
            principal,
            token,
            dead=dead,
            more_dead=more_dead,
            held=held,
            more_held=more_held,
            outside=outside,
            outside_total=sum(g.values for g in outside),
            mappings=list(mapping_files()),
        )

    @router.post("/quarantine/replay")
    def quarantine_replay(
        request: Request,
        found: Writer,
        mapping: Annotated[str, Form(max_length=200)] = "",
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        """Map the open quarantine again with a listed mapping file; a missing, unknown or broken file
        is a page saying so (the quarantine stays as it was)."""
        from gateway.ingest import replay_quarantine

        principal, token = found
        check_csrf(token, csrf)
        try:
            if not mapping:
                raise MappingUnavailable("mapping_none", "", "no mapping file was chosen", 422)
            chosen = chosen_mapping(mapping)
        except MappingUnavailable as exc:
            message = Translator(lang_of(request))(exc.key, name=exc.name)
            return error_page(request, exc.status, message=message, detail=exc.detail, principal=principal)
        replayed, still = replay_quarantine(
            gw.sessions,
            chosen,
            gw.clock,
            reporting_unit=gw.settings.sender.code,
            actor=principal.actor,
        )
        return RedirectResponse(f"/ui/dead?msg=quarantine_replayed&replayed={replayed}&still={still}", status_code=303)

    @router.get("/reconciliation", response_class=HTMLResponse)
    def reconciliation_page(
        request: Request,
        found: Reader,
        period: Annotated[str | None, Query(max_length=40)] = None,
        regime: Annotated[str | None, Query(max_length=100)] = None,
        cls: Annotated[str | None, Query(max_length=40)] = None,
        late: Annotated[bool, Query()] = False,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        """The value verdict per line and, apart, whether it arrived late; downloads of the same
        report go through this session (``reconciliation.xlsx`` / ``.csv``)."""
        principal, token = found
        t = Translator(lang_of(request))
        report = memo.get(gw, period or None, regime or None)
        lines = [line for line in report.lines if (not cls or line.classification == cls) and (not late or line.late)]
        pages = max(1, -(-len(lines) // RECON_PAGE))
        shown = lines[(page - 1) * RECON_PAGE : page * RECON_PAGE]
        summary = report.summary
        chart = charts.hbars(
            [(t(f"class_{name}"), summary[name], CLASS_CSS.get(name, "failed")) for name in CLASSES],
            title=t("summary"),
            number=t.num,
        )
        query = {"period": report.period or "", "regime": report.regime or ""}
        return render(
            request,
            "reconciliation.html",
            principal,
            token,
            report=report,
            summary=summary,
            total=len(report.lines),
            late_total=report.late,
            classes=CLASSES,
            lines=shown,
            cls=cls or "",
            late=late,
            page=page,
            pages=pages,
            chart=chart,
            css=CLASS_CSS,
            download=urlencode({k: v for k, v in query.items() if v}),
        )

    def export(period: str | None, regime: str | None, extension: str) -> Response:
        report = memo.get(gw, period or None, regime or None)
        if report.period is None:
            raise NotFound("no observations yet: nothing to reconcile")
        name = re.sub(r"[^A-Za-z0-9.-]+", "_", f"doi-soat-{report.regime or 'tat-ca'}-{report.period}")[:120]
        disposition = {"Content-Disposition": f'attachment; filename="{name}.{extension}"'}
        if extension == "csv":  # with a BOM: Excel opens UTF-8 CSV as UTF-8 only then
            body = ("\ufeff" + to_csv(report)).encode("utf-8")
            return Response(body, media_type="text/csv; charset=utf-8", headers=disposition)
        return Response(to_xlsx(report), media_type=XLSX, headers=disposition)

    @router.get("/reconciliation.xlsx")
    def reconciliation_xlsx(
        found: Reader,
        period: Annotated[str | None, Query(max_length=40)] = None,
        regime: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Response:
        """The workbook with the dashboard's session (the API's ``/v1/reconciliation`` needs a bearer
        token a browser link cannot carry); the same cells, formulas neutralised."""
        return export(period, regime, "xlsx")

    @router.get("/reconciliation.csv")
    def reconciliation_csv(
        found: Reader,
        period: Annotated[str | None, Query(max_length=40)] = None,
        regime: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Response:
        return export(period, regime, "csv")

    @router.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, found: Reader, q: Annotated[str, Query(max_length=100)] = "") -> Response:
        """Find a report by packet id (or its beginning), a period, or an indicator code."""
        principal, token = found
        with gw.sessions() as session:
            result = data.search(session, q)
            session.expunge_all()
        return render(request, "search.html", principal, token, q=q, result=result, limit=data.SEARCH_LIMIT)

    @router.get("/journey", response_class=HTMLResponse)
    def journey(
        request: Request,
        found: Reader,
        observation: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        delivery: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> Response:
        principal, token = found
        with gw.sessions() as session:
            obs = session.get(Observation, observation) if observation else None
            run = obs.ingest_run_id if obs else None
            d = session.get(Delivery, delivery) if delivery else None
            packet_id = d.packet_id if d else (obs.packet_id if obs else None)
            packet = session.get(Packet, packet_id) if packet_id else None
            history = data.attempts(session, d.id) if d else []
            statuses = (
                list(session.scalars(select(StatusReceipt).where(StatusReceipt.original_packet_id == packet.id)))
                if packet
                else []
            )
        return render(
            request,
            "journey.html",
            principal,
            token,
            obs=obs,
            run=run,
            d=d,
            packet=packet,
            history=history,
            statuses=statuses,
        )

    @router.get("/reports/{packet_id}", response_class=HTMLResponse)
    def report_page(request: Request, found: Reader, packet_id: str) -> Response:
        principal, token = found
        with gw.sessions() as session:
            packet = session.get(Packet, packet_id)
            if packet is None:
                raise NotFound(f"packet {packet_id} does not exist")
            life = data.lifecycle(session, packet)
        return render(request, "report.html", principal, token, packet=packet, life=life)

    exchange_pages.add_routes(router, exchange_pages.Pages(gw, render, signed_in, check_csrf))
    return router


class LoginRequired(Exception):
    """No valid session: the dashboard answers with the login page, then comes back to ``target``."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def _cross_site(request: StarletteRequest) -> bool:
    """Whether a form was posted from another site, by the browser's ``Origin`` (or, without one, its
    ``Referer``): the login and logout forms carry no CSRF token (no session yet, or one ending), so a
    page elsewhere could log an operator out, or into an account of its choosing (found by probing
    the dashboard from outside). Without either header (a script, an old client) the form is taken."""
    from urllib.parse import urlsplit

    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return sent == "null"
    here = urlsplit(str(request.base_url))
    there = urlsplit(sent)
    return (there.scheme, there.netloc) != (here.scheme, here.netloc)


def _safe_next(target: str) -> str:
    """Only paths inside the dashboard: a login link must not redirect to another site."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


def install(app: FastAPI) -> None:
    """The static files, the redirect of anonymous callers to the login page, and HTML error pages
    for every dashboard path (the API keeps its problem+json)."""
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="ui-static")
    app.add_middleware(HtmlErrors)

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/ui/login?next={quote(exc.target)}", status_code=303)


def _wants_html(scope: Scope) -> bool:
    """A dashboard path asked for by anything but a client that prefers JSON."""
    path = str(scope.get("path", ""))
    if scope["type"] != "http" or not (path == "/ui" or path.startswith("/ui/")) or path.startswith("/ui/static/"):
        return False
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1").lower()
    return not (("json" in accept) and "text/html" not in accept)


class HtmlErrors:
    """Turns a problem+json answer on a dashboard path into the same error as a page: an operator who
    follows a stale link or submits a bad form sees Vietnamese text and a way back, not raw JSON.
    Unexpected exceptions on those paths become a 500 page too (logged by the outer handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _wants_html(scope):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"application/problem+json"):
                    held["start"] = message
                    return
                await send(message)
            elif "start" in held:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._page(scope, receive, send, held["start"], b"".join(chunks))
            else:
                if message["type"] == "http.response.start":
                    held["sent"] = True
                await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            if held.get("sent") or "start" in held:
                raise
            log.exception("unexpected error on %s", scope.get("path"))
            await error_page(StarletteRequest(scope, receive), 500)(scope, receive, send)

    async def _page(self, scope: Scope, receive: Receive, send: Send, start: Message, body: bytes) -> None:
        import json

        try:
            detail = str(json.loads(body).get("detail", ""))
        except ValueError:
            detail = ""
        page = error_page(StarletteRequest(scope, receive), int(start["status"]), detail=detail)
        for name, value in start.get("headers") or []:
            if name.lower() == b"retry-after":  # a 429 or 507 page still says when to come back
                page.headers["retry-after"] = value.decode("latin-1")
        await page(scope, receive, send)
