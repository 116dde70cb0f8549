"""Reports: turn stored observations into ``SO_LIEU_BAO_CAO`` packets, one per regime × form × period
× reporting unit, and put them in the outbox with their deliveries, in one transaction.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from gateway import coverage, outbox
from gateway.calendar.regimes import RegimeDef, Run, regime_path, run_for
from gateway.clock import VN_TZ, Clock
from gateway.db.models import Observation, ObservationLink, Packet, ReportApproval, unsent
from gateway.ingest_runs import visible_observation
from gateway.packets import model as m
from gateway.packets.canonical import plain_dumps
from gateway.packets.validate import FigureNames, figure_names, gc_paused, report_envelope, report_head
from gateway.reconciliation.figures import dis_key
from gateway.reports.queue import due_at
from gateway.reports.routing import check_routes, seal_report_for
from gateway.settings import DestinationSettings, UnitSettings
from gateway.signing.seal import Sealer


@dataclass(frozen=True)
class BuiltPacket:
    packet_id: str
    delivery_ids: list[int]
    values: int


def build_reports(
    sessions: sessionmaker[Session],
    regime: RegimeDef,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None = None,
    actor: str = "system",
    period_key: str | None = None,
) -> list[BuiltPacket]:
    """Build one packet per report from observations not yet in a packet; store packets + deliveries
    in one transaction. The caller publishes the wake-ups after it returns."""
    with sessions.begin() as session:
        return build_in_session(
            session,
            regime,
            sender=sender,
            destinations=destinations,
            sealer=sealer,
            clock=clock,
            fmt=fmt,
            actor=actor,
            period_key=period_key,
        )


def build_in_session(
    session: Session,
    regime: RegimeDef,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None = None,
    actor: str = "system",
    period_key: str | None = None,
    build_workers: int = 1,
    never_built_only: bool = False,
) -> list[BuiltPacket]:
    """As ``build_reports``, inside the caller's transaction (the scheduler records its run with it).
    ``build_workers``: processes reading and sealing reports side by side (``reports.build_workers``;
    0: one per core for a large period; ``gateway.reports.parallel``), the outcome being the same.
    ``never_built_only``: only reports that have no packet and no approval draft yet (the scheduler's
    sweep of data that came after its run; a report already sent is corrected, not built again)."""
    pending = [Observation.regime_code == regime.code, unsent(), visible_observation()]
    if period_key is not None:
        pending.append(Observation.period_key == period_key)
    # Streamed by report key (issue 19): the keys first, then one report's observations at a time, so
    # memory holds one report, not every unsent observation of the regime (3 GB for the national load).
    keys = session.execute(waiting_reports(pending)).all()
    if never_built_only:
        built_before = reports_built(session, regime.code, {k.period_key for k in keys})
        keys = [k for k in keys if tuple(k) not in built_before]
    # Periods the regime never sends (before its start, another frequency) stay stored and unsent, as
    # ingest and `gateway quarantine list` say; building every unsent period used to send them anyway.
    sent = {period: coverage.outside(regime, period) is None for period in {k.period_key for k in keys}}
    keys = [k for k in keys if sent[k.period_key]]
    with _page_cache(session):
        return _build_all(
            session,
            regime,
            keys,
            pending,
            sender=sender,
            destinations=destinations,
            sealer=sealer,
            clock=clock,
            fmt=fmt,
            actor=actor,
            build_workers=build_workers,
        )


def waiting_reports(pending: list[ColumnElement[bool]]) -> Select[str, str, str]:
    """The (form, period, unit) of every report with observations matching ``pending`` (unsent and
    visible ones of a regime), read from ``ix_observations_report`` alone (migration 0014)."""
    return (
        select(Observation.form_code, Observation.period_key, Observation.reporting_unit)
        .where(*pending)
        .distinct()
        .order_by(Observation.form_code, Observation.period_key, Observation.reporting_unit)
    )


def reports_built(session: Session, regime_code: str, periods: set[str]) -> set[tuple[str, str, str]]:
    """The (form, period, unit) of the regime's reports in ``periods`` that were ever built: a report
    packet of any revision, or a draft held for approval in any state (a rejected draft went back to
    its source with a reason; building it again unasked would undo that)."""
    if not periods:
        return set()
    packets = select(Packet.form_code, Packet.period_key, Packet.reporting_unit).where(
        Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
        Packet.regime_code == regime_code,
        Packet.period_key.in_(sorted(periods)),
    )
    drafts = select(ReportApproval.form_code, ReportApproval.period_key, ReportApproval.reporting_unit).where(
        ReportApproval.regime_code == regime_code, ReportApproval.period_key.in_(sorted(periods))
    )
    return {(f, p, u) for query in (packets, drafts) for f, p, u in session.execute(query) if f and p and u}


SQLITE_BUILD_CACHE_KIB = 65_536
"""SQLite's page cache while reports are built (the connection's default is 2 MB): linking rewrites
every observation row of the period, and with the default cache the dirty pages were spilled and
read back throughout; 64 MB took a third off linking 100,000 observations (issue 19). A bound, not a
size that grows with the values; the connection's own setting is restored after the build."""


@contextmanager
def _page_cache(session: Session) -> Iterator[None]:
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BUILD_CACHE_KIB:d}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000):d}")


def _build_all(
    session: Session,
    regime: RegimeDef,
    keys: Sequence[Any],
    unsent_here: list[ColumnElement[bool]],
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None,
    actor: str,
    build_workers: int,
) -> list[BuiltPacket]:
    names = figure_names(sealer.profile)
    built: list[BuiltPacket] = []
    pending: list[Prepared] = []
    cuts: dict[str, Cut] = {}  # per distinct disaggregation text, shared by its rows (never mutated)
    periods: dict[str, Run] = {}  # a period's run (its working-day calendar) worked out once, not per report

    def make(reading: Session, report_key: Any) -> Prepared | BuiltPacket:
        form, key, unit = report_key
        # Tens of thousands of rows and figures per report: no collector passes over them meanwhile.
        # Nothing of them outlives the pause (a ``Prepared`` keeps bytes and ids), so the collection
        # the resumed collector runs next has nothing of the report to walk.
        with gc_paused():
            report = [Observation.form_code == form, Observation.period_key == key, Observation.reporting_unit == unit]
            return _prepare(
                reading,
                regime,
                form,
                key,
                unit,
                _rows(reading, [*unsent_here, *report], cuts, names),
                sender=sender,
                destinations=destinations,
                sealer=sealer,
                clock=clock,
                fmt=fmt,
                actor=actor,
                run=periods.get(key) or periods.setdefault(key, run_for(regime, key)),
            )

    for report_key, made in _made(session, regime, keys, make, sealer, build_workers):
        prepared = made if made is not None else make(session, report_key)
        if isinstance(prepared, BuiltPacket):
            built.append(prepared)  # held for approval
            continue
        pending.append(prepared)
        if sum(p.size for p in pending) >= STORE_BATCH_BYTES or len(pending) >= STORE_BATCH_PACKETS:
            built.extend(store_prepared(session, pending, now=clock.now(), actor=actor))
            pending = []
    built.extend(store_prepared(session, pending, now=clock.now(), actor=actor))
    return built


def _made(
    session: Session,
    regime: RegimeDef,
    keys: Sequence[Any],
    make: Callable[[Session, Any], Prepared | BuiltPacket],
    sealer: Sealer,
    build_workers: int,
) -> Iterator[tuple[Any, Prepared | BuiltPacket | None]]:
    """Each report key with its report made by a worker process (``gateway.reports.parallel``), or
    with None for the builder to make on its own session: always when one process is asked for, when
    reports wait for approval (holding a draft writes), when packets are time-stamped, or when the
    session is not bound to an engine a worker could open its own connections from."""
    from gateway.reports import parallel

    workers = parallel.workers_for(build_workers, len(keys))
    bind = session.get_bind()
    if workers <= 1 or regime.approval.required or sealer.tsa is not None or not isinstance(bind, Engine):
        yield from ((key, None) for key in keys)
        return
    yield from parallel.made_in_workers(bind, keys, make, workers)


STORE_BATCH_BYTES = 32_000_000
"""Sealed bytes held before they are stored with ``outbox.store_many``: memory stays bounded by this,
not by the number of values, while storing costs a few statements per batch, not per packet."""
STORE_BATCH_PACKETS = 200


@dataclass(frozen=True)
class Prepared:
    """A report sealed for its destinations, not stored yet: what ``store_prepared`` stores in a batch,
    and the observations it links to the packet once stored (ids; ORM objects to show it in memory)."""

    outgoing: outbox.Outgoing
    ids: list[int]
    objects: Sequence[Observation] = ()

    @property
    def size(self) -> int:
        return len(self.outgoing.payload) + sum(len(b) for b, _ in self.outgoing.own_payloads.values())


def store_prepared(session: Session, prepared: Sequence[Prepared], *, now: datetime, actor: str) -> list[BuiltPacket]:
    """Store sealed reports and their deliveries with one ``outbox.store_many`` (a multi-row INSERT
    each for packets and deliveries), then point each report's observations at its packet."""
    if not prepared:
        return []
    stored = outbox.store_many(session, [p.outgoing for p in prepared], now=now, actor=actor)
    built = []
    for p, s in zip(prepared, stored, strict=True):
        link_ids(session, p.ids, s.packet_id)
        for obs in p.objects:
            set_committed_value(obs, "packet_id", s.packet_id)
        built.append(BuiltPacket(s.packet_id, s.delivery_ids, p.outgoing.value_count))
    return built


class Linked(Protocol):
    """What holding or linking a report reads of each observation it was built from."""

    @property
    def id(self) -> int: ...
    @property
    def mapping_version(self) -> str: ...


class Observed(Linked, Protocol):
    """What building a report reads of an observation: an ORM ``Observation`` (a correction) or any
    object with the same attributes."""

    @property
    def indicator_code(self) -> str: ...
    @property
    def column_code(self) -> str | None: ...
    @property
    def disaggregation(self) -> list[list[str]]: ...
    @property
    def value(self) -> str: ...
    @property
    def unit(self) -> str: ...


class ObservationRef(NamedTuple):
    id: int
    mapping_version: str


@dataclass(frozen=True)
class ReportRows:
    """One report's observations as its packet needs them (issue 19: no ORM object, no model object
    per value): the figures as wire-named dicts, the latest value of each key, in the order of their
    ids; every observation id read (a replaced value is linked to the packet too: it was read); the
    mapping version of the first figure."""

    figures: list[dict[str, Any]]
    ids: list[int]
    mapping_version: str
    reconciled: str  # the packet's ``packet_figures`` text (``gateway.reconciliation.figures.encode``)


Cut = tuple[tuple[tuple[str, ...], ...], list[dict[str, str]], str]
"""A disaggregation as a hashable key, as the packet's wire-named dicts (shared, never mutated) and
as reconciliation keys it (``figures.dis_key``)."""

ROW_COLUMNS = (
    Observation.id,
    Observation.indicator_code,
    Observation.column_code,
    cast(Observation.disaggregation, String),  # the JSON text: decoded once per distinct text
    Observation.value,
    Observation.unit,
)


def _rows(session: Session, where: list[ColumnElement[bool]], cuts: dict[str, Cut], names: FigureNames) -> ReportRows:
    """One report's observations read as plain rows, by id, straight into its figures.

    Values go as stored, exact decimal text; what the canonical model would check of each figure
    the packet writer checks on the whole document (``write_report_json``). When a source was read
    twice, the latest observation of each (indicator, column, disaggregation) wins: an earlier one's
    figure is dropped, and the winner sits where its id puts it (no duplicate ``SoLieu``)."""
    query = select(*ROW_COLUMNS).where(*where).order_by(Observation.id)
    indicator_key, column_key, cut_key, value_key, unit_key = (
        names.indicator,
        names.column,
        names.cut,
        names.value,
        names.unit,
    )
    figures: list[dict[str, Any] | None] = []
    reconciled: list[list[str] | None] = []
    ids: list[int] = []
    at: dict[tuple[str, str, tuple[tuple[str, ...], ...]], int] = {}
    replaced = False
    for id_, indicator, column, text, value, unit in _fetch_all(session, query):
        found = cuts.get(text)
        if found is None:
            pairs = json.loads(text) if text else []
            found = cuts[text] = (tuple(tuple(p) for p in pairs), _wire_cut(pairs, names), dis_key(pairs))
        figure: dict[str, Any] = {indicator_key: indicator, value_key: value, unit_key: unit}
        if column is not None:
            figure[column_key] = column
        if found[1]:
            figure[cut_key] = found[1]
        key = (indicator, column or "", found[0])
        earlier = at.get(key)
        if earlier is not None:
            figures[earlier] = reconciled[earlier] = None
            replaced = True
        at[key] = len(figures)
        figures.append(figure)
        reconciled.append([f"{indicator}/{column}" if column else indicator, found[2], value, unit])
        ids.append(id_)

    def version_of(index: int) -> str:  # one query for the report, not a column of every row
        found = session.connection().execute(select(Observation.mapping_version).where(Observation.id == ids[index]))
        return str(found.scalar_one())

    return _chosen(figures, reconciled, version_of, ids, replaced)


def _fetch_all(session: Session, query: Any) -> list[Any]:
    """Every row of ``query`` as the driver's tuples, by the driver's cursor (issue 19: SQLAlchemy's
    result rows cost a fifth of reading a national month's million values on SQLite). The statement is
    compiled by the dialect (its parameter style, its bound values); the columns read are plain
    text and integers, which need no result processing. Other drivers go through SQLAlchemy."""
    conn = session.connection()
    dialect = conn.dialect
    if dialect.driver not in ("pysqlite", "psycopg"):
        return list(conn.execute(query).fetchall())
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:  # qmark / numeric: the values in the statement's order
        params = [params[name] for name in compiled.positiontup]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _chosen(
    figures: list[dict[str, Any] | None],
    reconciled: list[list[str] | None],
    version_of: Callable[[int], str],
    ids: list[int],
    replaced: bool,
) -> ReportRows:
    first = next((i for i, f in enumerate(figures) if f is not None), 0)
    if replaced:
        figures = [f for f in figures if f is not None]
        reconciled = [r for r in reconciled if r is not None]
    # The figures as reconciliation stores them beside the packet (``figures.encode``'s text, made
    # from the same rows as the packet's figures; the outbox would otherwise read figure objects).
    try:  # the same text as json.dumps(reconciled, ensure_ascii=False, separators=(",", ":")), in C
        text = plain_dumps(reconciled).decode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a stored value: the text as before, the check later
        text = json.dumps(reconciled, ensure_ascii=False, separators=(",", ":"))
    return ReportRows(typing.cast(list[dict[str, Any]], figures), ids, version_of(first) if ids else "", text)


def _observed_rows(observations: Sequence[Observed], names: FigureNames) -> ReportRows:
    """``_rows`` for observations already loaded (a correction passes ORM objects), in id order."""
    figures: list[dict[str, Any] | None] = []
    reconciled: list[list[str] | None] = []
    versions: list[str] = []
    at: dict[tuple[str, str, tuple[tuple[str, ...], ...]], int] = {}
    replaced = False
    ordered = sorted(observations, key=lambda o: o.id)
    for obs in ordered:
        figure: dict[str, Any] = {names.indicator: obs.indicator_code, names.value: obs.value, names.unit: obs.unit}
        if obs.column_code is not None:
            figure[names.column] = obs.column_code
        if obs.disaggregation:
            figure[names.cut] = _wire_cut(obs.disaggregation, names)
        key = (obs.indicator_code, obs.column_code or "", tuple(tuple(p) for p in obs.disaggregation))
        earlier = at.get(key)
        if earlier is not None:
            figures[earlier] = reconciled[earlier] = None
            replaced = True
        at[key] = len(figures)
        figures.append(figure)
        column = obs.column_code
        indicator = obs.indicator_code
        reconciled.append(
            [f"{indicator}/{column}" if column else indicator, dis_key(obs.disaggregation), obs.value, obs.unit]
        )
        versions.append(obs.mapping_version)
    return _chosen(figures, reconciled, versions.__getitem__, [o.id for o in ordered], replaced)


def _wire_cut(pairs: list[list[str]], names: FigureNames) -> list[dict[str, str]]:
    return [{names.dimension: d, names.value_code: v} for d, v in pairs]


LINK_CHUNK = 5000  # links per statement: few statements per report, under any bound-parameter limit
PG_LINK_CHUNK = 50_000  # one array parameter a statement: a round trip per 50,000 links
LINKS = typing.cast(Table, ObservationLink.__table__)


_JSON_EACH: dict[str, bool] = {}


def _has_json_each(conn: Connection) -> bool:
    """Whether this SQLite library has ``json_each`` (built in since 3.38, an option before), asked
    once per process and library version."""
    import sqlite3

    found = _JSON_EACH.get(sqlite3.sqlite_version)
    if found is None:
        try:
            conn.exec_driver_sql("SELECT count(*) FROM json_each('[1]')").scalar()
            found = True
        except OperationalError:
            found = False
        _JSON_EACH[sqlite3.sqlite_version] = found
    return found


def link_ids(session: Session, ids: list[int], packet_id: str) -> None:
    """Record that ``packet_id`` carries these observations: a narrow row each in ``observation_links``,
    by the driver's own statements (issue 19; the ORM's bulk machinery cost as much as the writes).
    An observation a correction carries again is re-pointed at the new revision (an upsert), as
    the revision replaces the one that carried it."""
    conn = session.connection()
    name = conn.dialect.name
    step = LINK_CHUNK if name != "postgresql" else PG_LINK_CHUNK
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        if name == "sqlite" and _has_json_each(conn):  # the ids as one JSON array, unpacked by SQLite (2.5x)
            conn.exec_driver_sql(
                "INSERT INTO observation_links (observation_id, packet_id) SELECT value, ? FROM json_each(?) "
                "WHERE true ON CONFLICT (observation_id) DO UPDATE SET packet_id = excluded.packet_id",
                (packet_id, json.dumps(chunk)),
            )
        elif name == "sqlite":  # an SQLite built without JSON: one prepared statement, many rows
            conn.exec_driver_sql(
                "INSERT INTO observation_links (observation_id, packet_id) VALUES (?, ?) "
                "ON CONFLICT (observation_id) DO UPDATE SET packet_id = excluded.packet_id",
                [(i, packet_id) for i in chunk],
            )
        elif name == "postgresql":  # the ids as one array, unnested by the server: one round trip a chunk
            ins = pg_insert(LINKS).from_select(
                ["observation_id", "packet_id"],
                select(
                    func.unnest(bindparam("ids", chunk, type_=ARRAY(Integer))),
                    bindparam("packet", packet_id, type_=String),
                ),
            )
            conn.execute(
                ins.on_conflict_do_update(index_elements=["observation_id"], set_={"packet_id": ins.excluded.packet_id})
            )
        else:
            conn.execute(delete(LINKS).where(LINKS.c.observation_id.in_(chunk)))
            conn.execute(insert(LINKS), [{"observation_id": i, "packet_id": packet_id} for i in chunk])


def build_report(
    session: Session,
    regime: RegimeDef,
    form: str,
    period_key: str,
    unit_code: str,
    observations: Sequence[Observed],
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None,
    actor: str,
    route: list[str] | None = None,
) -> BuiltPacket:
    """One canonical report, serialised and signed per destination (``fmt`` None: each destination's
    ``format``; given: that format for all), stored and linked to its observations. ``route``
    overrides the regime's destinations (a correction goes where the revision it corrects went)."""
    with gc_paused():
        prepared = _prepare(
            session,
            regime,
            form,
            period_key,
            unit_code,
            _observed_rows(observations, figure_names(sealer.profile)),
            sender=sender,
            destinations=destinations,
            sealer=sealer,
            clock=clock,
            fmt=fmt,
            actor=actor,
            route=route,
            objects=[o for o in observations if isinstance(o, Observation)],
        )
    if isinstance(prepared, BuiltPacket):
        return prepared
    return store_prepared(session, [prepared], now=clock.now(), actor=actor)[0]


def _prepare(
    session: Session,
    regime: RegimeDef,
    form: str,
    period_key: str,
    unit_code: str,
    rows: ReportRows,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None,
    actor: str,
    route: list[str] | None = None,
    run: Run | None = None,
    objects: Sequence[Observation] = (),
) -> Prepared | BuiltPacket:
    """``build_report`` up to storing: the report sealed for each destination (a ``Prepared`` to store),
    or, for a regime that needs approval, the held draft (a ``BuiltPacket`` with no deliveries)."""
    now = clock.now()
    run = run or run_for(regime, period_key)
    previous = session.execute(
        select(Packet.revision)
        .where(
            Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
            Packet.regime_code == regime.code,
            Packet.form_code == form,
            Packet.period_key == period_key,
            Packet.reporting_unit == unit_code,
        )
        .order_by(Packet.revision.desc())
        .limit(1)
    ).scalar()
    targets = route or regime.destinations
    check_routes([(regime.code, targets, regime_path(regime.code))], destinations)
    receiver = destinations[targets[0]].receiver
    local_now = now.astimezone(VN_TZ)
    profile = sealer.profile
    head = report_head(
        uuid.uuid4(),
        profile.id,
        local_now,
        m.Unit(code=sender.code, name=sender.name),
        m.Unit(code=receiver.code, name=receiver.name),
        m.SubmittedForm(
            regime_code=regime.code,
            form_code=form,
            period=run.period,
            reporting_unit=m.Unit(code=unit_code, name=sender.name if unit_code == sender.code else unit_code),
            revision=(previous or 0) + 1,
            sent_at=local_now,
        ),
    )
    values = len(rows.figures)
    due = due_at(run)
    if regime.approval.required:
        # Only approved reports are sealed and queued (gateway.reports.approval).
        from gateway.reports.approval import hold

        envelope = report_envelope(head, rows.figures, profile=profile, source=f"packet {head.packet_id}")
        refs = [ObservationRef(i, rows.mapping_version) for i in rows.ids]
        held = hold(session, envelope, regime, refs, value_count=values, deadline=due, actor=actor, now=now)
        return BuiltPacket(held.packet_id, [], values)
    sealed = seal_report_for(head, rows.figures, targets, destinations, sealer, fmt)
    outgoing = outbox.Outgoing(
        sealed.envelope,
        sealed.payload,
        sealed.fmt,
        sealed.destinations,
        value_count=values,
        mapping_version=rows.mapping_version,
        deadline=due,
        own_payloads=sealed.own,
        figures=rows.reconciled,
    )
    return Prepared(outgoing, rows.ids, objects)
