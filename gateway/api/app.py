"""The FastAPI application factory (no postponed annotations in the route modules: FastAPI reads them
at run time, and they name per-app dependencies). Health, the token endpoint, the pull API, the operator API,
status-packet intake and metrics. Every route but ``/healthz``, ``/readyz`` and ``/v1/token`` needs
a bearer token; see ``gateway.api.security``."""

from collections import Counter
from typing import Annotated, Any, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from gateway import __version__, audit, metrics
from gateway.api import auth_routes, exchange, intake, ops, problems, pull
from gateway.api.middleware import ETagMiddleware, LimitsMiddleware
from gateway.api.schemas import problem_responses
from gateway.api.security import Security, bearer
from gateway.auth.principals import Permission, Principal
from gateway.bootstrap import Gateway
from gateway.dashboard import views as dashboard
from gateway.delivery.binding import StatusOrigin, StatusUnbound
from gateway.errors import SignatureInvalid
from gateway.packets.safe import Limits, check_size

INTAKE_LIMITS = Limits(max_bytes=16 * 1024 * 1024)
DESCRIPTION = """The gateway between a provincial reporting system and the national reporting network
(QCVN 125:2021/BTTTT packets). Machine clients get a token with OAuth2 client credentials at
`POST /v1/token`; operators with the password grant or the configured identity provider."""


def create_app(gateway: Gateway) -> FastAPI:
    docs = gateway.settings.api.docs
    public_docs = docs == "public"
    app = FastAPI(
        title="National-interchange gateway",
        version=__version__,
        description=DESCRIPTION,
        dependencies=[Depends(single_valued_query)],
        openapi_url="/openapi.json" if public_docs else None,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
    )
    app.state.gateway = gateway
    problems.install(app)
    service = gateway.delivery_service("api")
    security = Security(gateway)
    app.state.security = security
    settings = gateway.settings.api
    app.add_middleware(ETagMiddleware)
    app.add_middleware(
        LimitsMiddleware, max_body_bytes=settings.max_body_bytes, max_query_bytes=settings.max_query_bytes
    )

    @app.get("/healthz", tags=["health"], operation_id="healthz")
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], operation_id="readyz", responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        """Database reachable and migrated, broker reachable and its queue as configured, disk, circuits."""
        ready, checks = ops.readiness(gateway)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    scraper = Depends(security.requires(Permission.METRICS, public=settings.public_metrics))

    @app.get("/metrics", tags=["health"], include_in_schema=False, dependencies=[scraper])
    def prometheus_metrics() -> Response:
        """Prometheus exposition: delivery state from SQL and this process's event metrics."""
        return Response(metrics.render(gateway), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/intake/status",
        tags=["intake"],
        status_code=202,
        operation_id="intake_status",
        responses=problem_responses(400, 401, 403, 404, 413, 414, 422, 429),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/xml": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def intake_status(
        request: Request, principal: Annotated[Principal, Depends(security.requires(Permission.INTAKE))]
    ) -> dict[str, str]:
        """Receive a signed ``TRANG_THAI_BAO_CAO`` packet from a receiver (idempotent on its MaGoiTin)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit():
            check_size(int(declared), "request body", INTAKE_LIMITS)
        data = await request.body()
        try:
            packet, signer = await run_in_threadpool(
                gateway.inbound.read, data, source="request body", limits=INTAKE_LIMITS
            )
        except SignatureInvalid as exc:
            await run_in_threadpool(_audit_refusal, gateway, exc, principal.actor)
            raise
        if principal.role == "receiver" and not principal.unit:
            refusal = StatusUnbound(
                "client_unbound",
                f"{principal.actor} is a receiver client bound to no unit; add one with `gateway clients add --unit`",
                location="request",
            )
            await run_in_threadpool(_audit_refusal, gateway, refusal, principal.actor)
            raise refusal
        origin = StatusOrigin(
            signed=signer is not None,
            signer_unit=signer.unit_code if signer else None,
            client_unit=principal.unit,
            client=principal.actor,
        )
        actor = f"{principal.actor} for {packet.sender.code}" + (f" (signed: {signer.subject})" if signer else "")
        try:
            result = await run_in_threadpool(service.intake_status, packet, actor=actor[:200], origin=origin)
        except StatusUnbound as exc:
            await run_in_threadpool(_audit_refusal, gateway, exc, principal.actor)
            raise
        return {"result": result, "MaGoiTin": str(packet.packet_id)}

    if docs == "authenticated":
        _authenticated_docs(app, security)
    app.include_router(auth_routes.build_router(security))
    app.include_router(pull.build_router(security))
    app.include_router(intake.build_router(security))
    app.include_router(ops.build_router(security))
    app.include_router(ops.build_reconciliation_router(security))
    app.include_router(exchange.build_router(security))
    app.include_router(dashboard.build_router(security))
    dashboard.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    return app


def _authenticated_docs(app: FastAPI, security: Security) -> None:
    """The API description for callers with a token (any role): an anonymous scan learns nothing of the
    routes. ``api.docs = "public"`` serves it to anyone (development), ``"off"`` to no one."""

    def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        return security.authenticate(credentials.credentials if credentials else None)

    authenticated = [Depends(caller)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=authenticated)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=authenticated)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    @app.get("/redoc", include_in_schema=False, dependencies=authenticated)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


async def single_valued_query(request: Request) -> None:
    """A parameter the route declares as one value must come once: ``?period=a&period=b`` is refused
    (FastAPI would silently keep the last one). Async: it does no I/O, and a sync dependency costs
    every request of the API a thread-pool round trip (issue 19)."""
    if not request.scope.get("query_string"):
        return  # nothing given, nothing given twice (a pull of one packet by id: the hot path)
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    scalars = {
        field.alias
        for field in _query_fields(dependant)
        if get_origin(field.field_info.annotation) is not list
        and list not in {get_origin(arg) for arg in get_args(field.field_info.annotation)}
    }
    counts = Counter(key for key, _ in request.query_params.multi_items())
    repeated = sorted(name for name, count in counts.items() if count > 1 and name in scalars)
    if repeated:
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": "given more than once; one value expected", "type": "value_error"}
                for name in repeated
            ]
        )


def _query_fields(dependant: Any) -> list[Any]:
    fields = list(dependant.query_params)
    for sub in dependant.dependencies:
        fields.extend(_query_fields(sub))
    return fields


def _audit_refusal(gateway: Gateway, exc: SignatureInvalid, actor: str) -> None:
    with gateway.sessions.begin() as session:
        audit.record(
            session,
            at=gateway.clock.now(),
            actor=actor,
            action="signature.rejected",
            subject="intake:status",
            detail={"code": exc.code, "reason": str(exc)},
        )
