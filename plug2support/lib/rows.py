"""Model instances from rows read by hand-written SQL, converted exactly as the ORM converts
them (its backend and field converters), for the few hot paths where building the query
costs more than running it (conversations/actions.py: a visitor's message)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


# (column position, (converter functions, expression)), as Django's compilers list them.
Converters = list[tuple[int, tuple[list[Any], Any]]]


def apply_converters(values: list[Any], converters: Converters,
                     connection: BaseDatabaseWrapper) -> list[Any]:
    """Convert, in place, the row's columns that have converters (`converters`' positions)."""
    for position, (functions, expression) in converters:
        for convert in functions:
            values[position] = convert(values[position], expression, connection)
    return values


class RowReader(Generic[M]):
    """Reads `fields` of `model` from consecutive columns of a row."""

    def __init__(self, model: type[M], field_names: list[str] | None = None) -> None:
        self.model = model
        names = field_names or [f.name for f in model._meta.concrete_fields]
        self.fields = [cast("Field[Any, Any]", model._meta.get_field(name)) for name in names]
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, Converters] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self, alias: str, connection: BaseDatabaseWrapper) -> str:
        """The SELECT list for these fields of the table known as `alias`."""
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)

    def read(self, values: list[Any] | tuple[Any, ...],
             connection: BaseDatabaseWrapper) -> M:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                functions = (connection.ops.get_db_converters(column)
                             + column.get_db_converters(connection))
                if functions:
                    converters.append((position, (functions, column)))
            self._converters[connection.alias] = converters
        converted = apply_converters(list(values), converters, connection)
        return self.model.from_db(connection.alias, self.attnames, converted)
