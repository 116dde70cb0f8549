"""SQL databases of the provincial systems: any SQLAlchemy URL plus a query, one value per row.

Reads: the rows of ``query`` (columns named as in ``adapters.long_format.LongFormat``, use SQL
aliases), streamed in batches (server-side cursor where the driver has one), never loaded whole.
Config: ``url``, ``query``, ``batch``, field names. Quirks: a failing query is one ``ReadProblem``
naming the database (password hidden), not a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from adapters.base import ReadItem, ReadProblem, SourceRef
from adapters.long_format import LongFormat


@dataclass(frozen=True)
class SqlLayout:
    query: str
    batch: int = 5000
    fields: LongFormat = field(default_factory=LongFormat)


class SqlReader:
    name = "sql"

    def __init__(self, url: str, layout: SqlLayout) -> None:
        self.url = url
        self.layout = layout
        engine = create_engine(url)
        self.source = engine.url.render_as_string(hide_password=True)
        self._engine = engine

    def read(self) -> Iterator[ReadItem]:
        fields = self.layout.fields
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.layout.batch).execute(
                    text(self.layout.query)
                )
                for n, row in enumerate(result.mappings(), start=1):
                    record = dict(row)
                    rid = str(record.get(fields.record_id)) if fields.record_id else str(n)
                    yield fields.item(record, SourceRef(self.source, record=rid))
        except SQLAlchemyError as exc:
            yield ReadProblem(SourceRef(self.source), f"query failed: {str(exc).splitlines()[0][:300]}")
        finally:
            self._engine.dispose()
