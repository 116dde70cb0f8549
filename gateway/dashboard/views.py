"""The operator dashboard: server-rendered pages (Jinja2) behind the operator login, Vietnamese first.

Sessions are the API's own access tokens in an ``HttpOnly``, ``SameSite=Strict`` cookie; every form
carries a CSRF token derived from the session, so a page on another site cannot post on an
operator's behalf. Pages need ``ops:read``; replay, cancel and quarantine replay need ``ops:write``
and are audited with the operator's account, like the same actions through the API.
"""

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from gateway.api.schemas import MAX_ID, DeliveryId
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.clock import VN_TZ, as_utc
from gateway.coverage import unsent_outside
from gateway.dashboard import charts, data, exchange_pages
from gateway.dashboard.i18n import DEFAULT, LANGUAGES, Translator
from gateway.db.models import Delivery, DeliveryState, Observation, Packet, StatusReceipt
from gateway.delivery.queues import destinations
from gateway.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from gateway.reconciliation.report import CLASSES
from gateway.scheduler import upcoming
from mappings.indicators import INDICATOR_MAPPINGS_DIR

HERE = Path(__file__).parent
COOKIE = "gw_session"
LANG_COOKIE = "gw_lang"
RECON_PAGE = 100
CLASS_CSS = {
    "match": "ok",
    "unsent": "warn",
    "pending": "info",
    "late": "warn",
    "duplicate": "warn",
}


def _vn(value: datetime | None) -> str:
    if value is None:
        return ""
    return as_utc(value).astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S")


def _age(value: Any) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def build_router(security: Security) -> APIRouter:
    gw = security.gateway
    router = APIRouter(prefix="/ui", include_in_schema=False)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["vn"] = _vn
    templates.env.filters["age"] = _age
    secure_cookie = gw.settings.api.host not in ("127.0.0.1", "localhost", "::1")

    def csrf_of(token: str) -> str:
        return hmac.new(security.tokens.keys[0][1], f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:32]

    def lang_of(request: Request) -> str:
        lang = request.cookies.get(LANG_COOKIE, DEFAULT)
        return lang if lang in LANGUAGES else DEFAULT

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
    def overview(request: Request, found: Reader) -> Response:
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
                hourly, title=t("deliveries_24h"), ok_label=t("legend_ok"), failed_label=t("legend_failed")
            ),
            chart_30d=charts.stacked_bars(
                daily, title=t("deliveries_30d"), ok_label=t("legend_ok"), failed_label=t("legend_failed")
            ),
            due=due,
            late=late,
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
            dead, more_dead = data.deliveries(session, state=DeliveryState.DEAD.value, destination=None, before=before)
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
            mappings=sorted(p.name for p in INDICATOR_MAPPINGS_DIR.glob("*.yaml")),
        )

    @router.post("/quarantine/replay")
    def quarantine_replay(
        found: Writer,
        mapping: Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.yaml$")],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        from gateway.ingest import replay_mapping, replay_quarantine

        principal, token = found
        check_csrf(token, csrf)
        replayed, still = replay_quarantine(
            gw.sessions,
            replay_mapping(mapping),
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
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        principal, token = found
        t = Translator(lang_of(request))
        report = gw.reconcile(period=period or None, regime=regime or None)
        lines = [line for line in report.lines if not cls or line.classification == cls]
        pages = max(1, -(-len(lines) // RECON_PAGE))
        shown = lines[(page - 1) * RECON_PAGE : page * RECON_PAGE]
        summary = report.summary
        chart = charts.hbars(
            [(t(f"class_{name}"), summary[name], CLASS_CSS.get(name, "failed")) for name in CLASSES],
            title=t("summary"),
        )
        return render(
            request,
            "reconciliation.html",
            principal,
            token,
            report=report,
            summary=summary,
            classes=CLASSES,
            lines=shown,
            cls=cls or "",
            page=page,
            pages=pages,
            chart=chart,
            css=CLASS_CSS,
        )

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


def _safe_next(target: str) -> str:
    """Only paths inside the dashboard: a login link must not redirect to another site."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


def install(app: FastAPI) -> None:
    """The static files, and the redirect of anonymous callers to the login page."""
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/ui/login?next={quote(exc.target)}", status_code=303)
