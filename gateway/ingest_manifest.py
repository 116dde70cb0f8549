"""Many source files in one ingest: a manifest read once, each file ingested by a pool of workers.

Why: the national load is 34 province files. One ``gateway ingest`` process per file paid the
command's start-up (imports, settings, the database engine, the YAML mapping, the regime calendar)
34 times, 3.5-9 s each for 3,000-30,000 values: 95% of the ingest stage (issue 19). Here the
expensive things are done once, in the parent, before the workers are forked from it: imports,
settings, the schema check, every distinct mapping file loaded once, the regimes. Each worker then
only opens its database connection and reads, maps and stores its files.

Each file stays its own ingest run (``gateway.ingest.ingest``): its own count identity, its rows
invisible until it completes, its own line in the result. The SQLite writer is one at a time; a run
commits in batches (``ingest.BATCH``), so workers take turns at the lock while the others read and map.

What is wrong, and what it stops:

- the manifest itself (an unknown column, a missing field, an unknown adapter, a period that is not
  a period, the same file twice): nothing is ingested, one line names the entry (exit 2);
- one file (missing, unreadable, its mapping or template does not load, the read fails): that file
  is reported by name and the others are ingested (exit 1).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext
    from multiprocessing.sharedctypes import Synchronized

    from gateway.ingest import IngestReport
    from gateway.settings import Settings
    from mappings.indicators import IndicatorMapping

FIELDS = ("source", "adapter", "mapping", "template", "period", "unit", "reporting_unit", "encoding")
REQUIRED = ("source", "adapter", "mapping")
FILE_ADAPTERS = ("csv", "xlsx")
"""A manifest lists files: the json-api and sql adapters read one source each, with secrets."""
LEGACY_ENCODINGS = ("tcvn3", "vni", "viscii")


class ManifestError(GatewayError):
    """The manifest cannot be used as written (exit 2); the message names the entry and its line."""


@dataclass(frozen=True)
class Entry:
    """One file of the manifest, its paths resolved against the manifest's folder."""

    where: str
    """``manifest.csv line 4`` / ``manifest.yaml entry 3 (line 12)``: named in every message."""
    source: Path
    adapter: str
    mapping: Path
    template: str | None = None
    period: str | None = None
    unit: str | None = None
    reporting_unit: str | None = None
    encoding: str | None = None

    @property
    def name(self) -> str:
        return str(self.source)


@dataclass
class Planned:
    """An entry ready to ingest (its mapping loaded, its reader's options), or why it cannot be."""

    entry: Entry
    mapping: IndicatorMapping | None = None
    options: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    size: int = 0
    """The source's bytes: the progress display's measure of work done."""


@dataclass
class FileResult:
    """What became of one file: its ingest report, or the one-line reason it failed."""

    entry: Entry
    report: IngestReport | None = None
    error: str | None = None
    seconds: float = 0.0
    worker_peak_rss_mb: float = 0.0
    """The peak RSS of the process that ingested it, as it stood after this file."""

    @property
    def ok(self) -> bool:
        return self.error is None


# -- reading the manifest ------------------------------------------------------------------------


def read_manifest(path: Path) -> list[Entry]:
    """The entries of a CSV (``.csv``) or YAML (``.yaml``/``.yml``) manifest; ``ManifestError``
    naming the line for anything that is not a usable entry. Nothing is opened but the manifest."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {path}: not UTF-8 (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise ManifestError(f"manifest {path}: cannot be read ({exc.strerror})") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = list(_csv_rows(path, text))
    elif suffix in (".yaml", ".yml"):
        raw = list(_yaml_rows(path, text))
    else:
        raise ManifestError(f"manifest {path}: name it .csv or .yaml (got {suffix or 'no extension'!r})")
    if not raw:
        raise ManifestError(f"manifest {path}: lists no files")
    entries = [_entry(path.parent, where, fields) for where, fields in raw]
    seen: dict[tuple[Path, str | None], str] = {}
    for e in entries:
        key = (e.source.resolve(), e.reporting_unit)
        if key in seen:
            raise ManifestError(f"{e.where}: {e.source} is listed twice (also {seen[key]}); list each file once")
        seen[key] = e.where
    return entries


def _csv_rows(path: Path, text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a CSV manifest (a header naming the columns; blank lines and ``#`` lines skipped)."""
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            for name in header:
                if name not in FIELDS:
                    raise ManifestError(f"{path.name} line {line}: unknown column {name!r}{_hint(name, FIELDS)}")
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                raise ManifestError(f"{path.name} line {line}: the header has no column {', '.join(missing)}")
            continue
        if len(row) > len(header):
            raise ManifestError(f"{path.name} line {line}: {len(row)} cells under a header of {len(header)}")
        yield f"{path.name} line {line}", {name: cell.strip() for name, cell in zip(header, row, strict=False)}


def _yaml_rows(path: Path, text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Entries of a YAML manifest: ``files:`` (a list of mappings) and optional ``defaults:`` that
    every entry starts from. Values are read as the text written (``unit: 01`` stays ``01``; YAML
    would make it the number 1), with each entry's line for the messages."""
    import yaml

    from mappings.yaml_files import yaml_problem

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path.name}{yaml_problem(exc)}") from exc
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise ManifestError(f"{path.name} line {root.start_mark.line + 1}: expected `files:` (and `defaults:`)")
    top = {_key(path, k): v for k, v in root.value}
    unknown = set(top) - {"files", "defaults"}
    if unknown:
        first = sorted(unknown)[0]
        raise ManifestError(f"{path.name}: unknown key {first!r}; a manifest has `files:` and `defaults:`")
    defaults = _yaml_fields(path, "defaults", top["defaults"]) if "defaults" in top else {}
    files = top.get("files")
    if not isinstance(files, yaml.SequenceNode):
        raise ManifestError(f"{path.name}: `files:` must be a list of entries (source, adapter, mapping ...)")
    for n, node in enumerate(files.value, start=1):
        where = f"{path.name} entry {n} (line {node.start_mark.line + 1})"
        yield where, {**defaults, **_yaml_fields(path, where, node)}


def _key(path: Path, node: object) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise ManifestError(f"{path.name}: a key must be a name")
    return str(node.value)


def _yaml_fields(path: Path, where: str, node: object) -> dict[str, str]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        line = getattr(getattr(node, "start_mark", None), "line", -1) + 1
        raise ManifestError(f"{where}: expected `name: value` lines (line {line})")
    out = {}
    for k, v in node.value:
        name = _key(path, k)
        if name not in FIELDS:
            raise ManifestError(f"{where}: unknown field {name!r}{_hint(name, FIELDS)}")
        if not isinstance(v, yaml.ScalarNode):
            raise ManifestError(f"{where}: {name} must be one value (line {v.start_mark.line + 1})")
        out[name] = str(v.value).strip()
    return out


def _hint(value: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"


def _entry(base: Path, where: str, fields: Mapping[str, str]) -> Entry:
    """One entry checked for what the manifest alone can tell (exit 2): the files it names are
    looked at later, per file."""
    from adapters.base import PeriodRef, period_ref
    from adapters.long_format import PERIOD_KEY

    given = {k: v for k, v in fields.items() if v}
    missing = [name for name in REQUIRED if name not in given]
    if missing:
        raise ManifestError(f"{where}: no {' and no '.join(missing)}")
    adapter = given["adapter"]
    if adapter not in FILE_ADAPTERS:
        raise ManifestError(f"{where}: unknown adapter {adapter!r}; a manifest lists files: csv or xlsx")
    period = given.get("period")
    if period is not None:
        match = PERIOD_KEY.match(period)
        checked = period_ref(match["type"], int(match["number"]), int(match["year"])) if match else None
        if not isinstance(checked, PeriodRef):
            why = f" ({checked})" if isinstance(checked, str) else ""
            raise ManifestError(f"{where}: period {period!r} is not a period key such as 2026-THANG-10{why}")
        period = checked.key
    if (period or given.get("unit")) and not given.get("template"):
        raise ManifestError(f"{where}: period and unit apply to a template layout; give its template")
    encoding = given.get("encoding")
    if encoding is not None:
        if adapter != "csv":
            raise ManifestError(f"{where}: encoding {encoding!r} is for csv sources, not {adapter}")
        if encoding not in LEGACY_ENCODINGS:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise ManifestError(
                    f"{where}: unknown encoding {encoding!r}; one of utf-8, utf-16, cp1258, tcvn3, vni, viscii"
                ) from None
    template = given.get("template")
    if template is not None and (base / template).is_file():
        template = str(base / template)
    return Entry(
        where=where,
        source=base / given["source"],
        adapter=adapter,
        mapping=base / given["mapping"],
        template=template,
        period=period,
        unit=given.get("unit"),
        reporting_unit=given.get("reporting_unit"),
        encoding=encoding,
    )


# -- planning: every file looked at before anything is ingested -----------------------------------


def plan(entries: list[Entry]) -> list[Planned]:
    """Each entry with its mapping loaded (once per distinct file) and its reader's options, or the
    reason this file cannot be read (a missing source, a mapping that does not load ...)."""
    from adapters.registry import UnknownAdapter, reader_for
    from adapters.template_spec import TemplateError, resolve
    from mappings.indicators import MappingError, load_mapping

    out = []
    for entry in entries:
        planned = Planned(entry)
        out.append(planned)
        problem = _unreadable(entry.source, "source file") or _unreadable(entry.mapping, "mapping file")
        if problem:
            planned.problem = problem
            continue
        planned.size = entry.source.stat().st_size
        try:
            mapping = load_mapping(entry.mapping.resolve())
            template = entry.template
            if template is None and mapping.spec.template:
                template = str(resolve(mapping.spec.template, entry.mapping.parent))
            options = {
                k: v
                for k, v in {
                    "encoding": entry.encoding,
                    "template": template,
                    "period": entry.period,
                    "unit": entry.unit,
                }.items()
                if v
            }
            reader_for(entry.adapter, entry.source, options)  # a layout that does not load fails here
        except (MappingError, TemplateError, UnknownAdapter, GatewayError) as exc:
            planned.problem = str(exc)
            continue
        planned.mapping, planned.options = mapping, options
    return out


def _unreadable(path: Path, what: str) -> str | None:
    if not path.exists():
        return f"{what} {path} does not exist"
    if path.is_dir():
        return f"{what} {path} is a folder, not a file"
    if not os.access(path, os.R_OK):
        return f"{what} {path} cannot be read (permission denied)"
    return None


def default_workers(files: int) -> int:
    """One worker per core this process may run on (``taskset`` counts), no more than the files."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, files))


# -- ingesting ------------------------------------------------------------------------------------


@dataclass
class _Job:
    """What every worker inherits from the parent when it is forked (nothing is pickled but indexes)."""

    settings: Settings
    plans: list[Planned]
    actor: str
    default_unit: str
    values: Synchronized[int]
    """Records read so far by every worker (shared memory): the progress display's count."""


_JOB: _Job | None = None
_WORKER: dict[str, object] = {}


def values_read() -> int:
    """Records read so far by the running ``ingest_all`` (every worker's files, finished or not)."""
    return _JOB.values.value if _JOB is not None else 0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ingest_one(index: int) -> FileResult:
    """Ingest one planned file in this process (a worker, or the parent with one worker)."""
    from adapters.registry import reader_for
    from gateway.bootstrap import Gateway, bootstrap
    from gateway.ingest import ingest

    job = _JOB
    assert job is not None
    planned = job.plans[index]
    entry = planned.entry
    result = FileResult(entry)
    started = time.perf_counter()
    counted = 0

    def progress(read: int) -> None:
        nonlocal counted
        with job.values.get_lock():
            job.values.value += read - counted
        counted = read

    try:
        gw = _WORKER.get("gateway")
        if not isinstance(gw, Gateway):
            gw = _WORKER["gateway"] = bootstrap(job.settings, migrate=False, lazy=True)
        assert planned.mapping is not None
        reader = reader_for(entry.adapter, entry.source, planned.options)
        result.report = ingest(
            gw.sessions,
            reader,
            planned.mapping,
            gw.clock,
            reporting_unit=entry.reporting_unit or job.default_unit,
            actor=job.actor,
            progress=progress,
            gateway=gw,
            options=planned.options,
            batch_size=job.settings.ingest.batch_size,
            lease_seconds=job.settings.ingest.lease_seconds,
        )
    except GatewayError as exc:
        result.error = str(exc)
    except Exception as exc:  # one file's failure must not stop the others
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        result.error = f"{type(exc).__name__}: {first}"
    result.seconds = time.perf_counter() - started
    result.worker_peak_rss_mb = _peak_rss_mb()
    return result


def _worker_start() -> None:
    """In a forked worker: the parent's database connections are not ours to use."""
    _WORKER.clear()


def ingest_all(
    settings: Settings,
    plans: list[Planned],
    *,
    workers: int,
    actor: str = "cli",
    reporting_unit: str | None = None,
    on_start: Callable[[], None] | None = None,
    on_done: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Ingest every planned file that can be read, ``workers`` at a time; files that could not be
    planned come back failed with their reason. Results are in the manifest's order; ``on_done``
    sees each as it finishes, ``on_start`` is called once the workers are running (a progress
    display's thread must not be running when they are forked)."""
    global _JOB
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results: dict[int, FileResult] = {}
    todo = [i for i, p in enumerate(plans) if p.problem is None]
    unit = reporting_unit or settings.sender.code  # for the entries that name no reporting unit
    _JOB = _Job(settings, plans, actor, unit, context.Value("q", 0))
    # Largest files first: the last file to start is then a small one, and no worker sits idle
    # while another finishes a long file it took late.
    todo.sort(key=lambda i: -plans[i].size)
    try:
        if workers <= 1 or len(todo) <= 1:
            _report_problems(plans, results, on_start, on_done)
            for i in todo:
                results[i] = _ingest_one(i)
                if on_done:
                    on_done(results[i])
        else:
            _in_pool(context, todo, min(workers, len(todo)), results, on_start, on_done)
    finally:
        _JOB = None
        gw = _WORKER.pop("gateway", None)
        if gw is not None:
            gw.close()  # type: ignore[attr-defined]
    return [results[i] for i in range(len(plans))]


def _report_problems(
    plans: list[Planned],
    results: dict[int, FileResult],
    on_start: Callable[[], None] | None,
    on_done: Callable[[FileResult], None] | None,
) -> None:
    if on_start:
        on_start()
    for i, p in enumerate(plans):
        if p.problem is not None:
            results[i] = FileResult(p.entry, error=p.problem)
            if on_done:
                on_done(results[i])


def _in_pool(
    context: BaseContext,
    todo: list[int],
    workers: int,
    results: dict[int, FileResult],
    on_start: Callable[[], None] | None,
    on_done: Callable[[FileResult], None] | None,
) -> None:
    """Forked workers: they start with everything the parent loaded (modules, mappings, regimes)
    and open their own database connections. With the fork method every worker is started by the
    first ``submit``, before the pool's own threads."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    assert _JOB is not None
    plans = _JOB.plans
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start) as pool:
        futures = {pool.submit(_ingest_one, i): i for i in todo}
        _report_problems(plans, results, on_start, on_done)
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # a worker that died (killed, out of memory)
                results[i] = FileResult(plans[i].entry, error=f"the worker ingesting it stopped: {exc}")
            if on_done:
                on_done(results[i])


def warm_regimes(plans: list[Planned]) -> None:
    """Load, in the parent, the regimes the mappings feed: every run checks its values against its
    regime (``gateway.coverage``), and the workers then find them loaded."""
    from gateway.calendar.regimes import load_regime
    from gateway.errors import ConfigurationError

    for code in sorted({p.mapping.spec.regime for p in plans if p.mapping is not None}):
        with contextlib.suppress(ConfigurationError):  # the runs count its values as outside every regime
            load_regime(code)
