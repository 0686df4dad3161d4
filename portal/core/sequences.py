"""Numbering the events of one record (a deployment, a pipeline run) in one statement.

An event log needs the next number of its record, taken so that two writers (a worker
and the reaper, a stage and a cancel) never take the same one. The record keeps its
last number in a counter column: ``UPDATE ... SET n = n + 1 ... RETURNING n`` takes the
next number and locks the record's row until the transaction ends, in one statement
on PostgreSQL and SQLite alike (3.35+). Reading the highest number of the events and
adding one took a row lock, an aggregate, a retry on conflict and a savepoint.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

__all__ = ["take_next"]


def take_next(model: type[Model], pk: int, counter: str, **also) -> int:
    """Increment ``counter`` of the ``model`` row ``pk`` (setting the fields in ``also``
    in the same statement) and return its new value; ``model.DoesNotExist`` when there
    is no such row. Call it inside the transaction that writes the numbered event."""
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in also]
    column = quote(meta.get_field(counter).column)
    assignments = [f"{column} = {column} + 1"]
    assignments += [f"{quote(field.column)} = %s" for field in fields]
    values = [field.get_db_prep_save(also[field.name], connection) for field in fields]
    # Table and column names come from the model, quoted; values are parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s RETURNING {column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, pk])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{meta.verbose_name} {pk} does not exist (any more).")
    return row[0]
