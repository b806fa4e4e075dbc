"""ORM queries compiled once per process and then run with new values, for the till's hot path.

Building and compiling a query with Django's ORM costs 1-3 ms of CPU here, ten times what
PostgreSQL needs to run it (bench/profile_pos.py prints both). The POS runs the same few
queries on every stamp with only a card number, a key or an id changing, so a
``PreparedQuery`` builds its queryset once, with placeholder values it then finds among the
compiled SQL's parameters, and afterwards only puts the new values in their place, sends the
SQL and builds the model instances as ``QuerySet.__iter__`` does (``select_related`` and
annotations included). The query itself is still written with the ORM, in one place.

What is kept after compiling is only read afterwards, so threads may share a prepared query; two
compiling it at the same moment each build their own queryset. Only plain equality parameters
can be placeholders (a value a lookup transforms, such as
``icontains``, is refused when the query is first compiled), and the queryset must not come
from a related manager.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators

# Values no real query asks for, one per parameter name, by type.
_PLACEHOLDER_INT = -8_070_450_532_247_928_000
_PLACEHOLDER_STR = "\ufffe{}\ufffe"


@dataclass(frozen=True)
class _Compiled:
    alias: str
    sql: str
    params: tuple  # the compiled parameters, placeholders replaced by their parameter's name
    slots: tuple[int, ...]  # positions in ``params`` that take a caller's value
    model: type[Model]
    init_list: list[str]
    fields: tuple[int, int]
    populators: list
    annotations: dict
    converters: dict  # what the backend turns each column's value into, by position


class PreparedQuery:
    """``PreparedQuery(lambda card_id: ..., card_id=int)``, then ``query(card_id=7)``: the instances.

    ``build`` takes the keyword parameters named after it, each an ``int`` or a ``str``, and
    returns the queryset.
    """

    def __init__(self, build: Callable[..., QuerySet], **types: type):
        self._build = build
        self._types = types
        for name, kind in types.items():
            if kind not in (int, str):
                raise TypeError(f"PreparedQuery parameter {name!r} is an int or a str, not {kind!r}")
        self._compiled: _Compiled | None = None

    def __call__(self, **values) -> list[Model]:
        compiled = self._compiled or self._compile()
        if values.keys() != self._types.keys():
            raise TypeError(f"PreparedQuery takes {sorted(self._types)}, got {sorted(values)}")
        params = list(compiled.params)
        for position in compiled.slots:
            params[position] = values[params[position]]
        with connections[compiled.alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return self._instances(compiled, rows)

    def _compile(self) -> _Compiled:
        placeholders = {
            name: (_PLACEHOLDER_INT - index if kind is int else _PLACEHOLDER_STR.format(name))
            for index, (name, kind) in enumerate(self._types.items())
        }
        queryset = self._build(**placeholders)
        if queryset._known_related_objects or queryset._prefetch_related_lookups:
            raise TypeError("PreparedQuery takes a queryset of a model's manager, without prefetch_related")
        if queryset._iterable_class is not ModelIterable:
            raise TypeError("PreparedQuery makes model instances: no values() or values_list()")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        by_value = {(type(value), value): name for name, value in placeholders.items()}
        named, slots, seen = [], [], set()
        for position, value in enumerate(params):
            name = by_value.get((type(value), value))
            if name is None:
                named.append(value)
            else:
                named.append(name)
                slots.append(position)
                seen.add(name)
        if seen != set(placeholders):
            missing = sorted(set(placeholders) - seen)
            raise TypeError(f"PreparedQuery: {missing} do not reach the SQL as plain parameters")
        klass_info, select = compiler.klass_info, compiler.select
        if compiler.has_composite_fields([column[0] for column in select[: compiler.col_count]]):
            raise TypeError("PreparedQuery does not read composite primary keys")
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self._compiled = _Compiled(
            alias=queryset.db,
            sql=sql,
            params=tuple(named),
            slots=tuple(slots),
            model=klass_info["model"],
            init_list=[column[0].target.attname for column in select[start:end]],
            fields=(start, end),
            populators=get_related_populators(klass_info, select, queryset.db),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
        )
        return self._compiled

    @staticmethod
    def _instances(compiled: _Compiled, rows: list) -> list[Model]:
        """What ``ModelIterable`` makes of the rows: the model, its related objects, its annotations."""
        model = compiled.model
        start, end = compiled.fields
        instances = []
        if compiled.converters:  # as SQLCompiler.apply_converters, with this thread's connection
            connection = connections[compiled.alias]
            rows = [list(row) for row in rows]
            for row in rows:
                for position, (converters, expression) in compiled.converters.items():
                    for converter in converters:
                        row[position] = converter(row[position], expression, connection)
        for row in rows:
            instance = model.from_db(compiled.alias, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, instance)
            for name, position in compiled.annotations.items():
                setattr(instance, name, row[position])
            instances.append(instance)
        return instances


def insert_values(instance: Model, connection) -> tuple[str, list]:
    """``INSERT INTO table (columns) VALUES (...)`` of a new instance, and its parameters.

    Every concrete field but the automatic primary key, each value prepared as ``Model.save``
    would (defaults and ``auto_now_add`` applied), for a statement of the caller's: a ``WITH``
    of several writes, an ``ON CONFLICT DO NOTHING``, a ``RETURNING``.
    """
    meta = instance._meta
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return sql, [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
