"""Index helpers that keep PostgreSQL's strengths and still migrate on SQLite.

``PatternOps``: an index expression a ``LIKE 'MAR%'`` prefix search can use on PostgreSQL.

``istartswith`` is ``UPPER(name) LIKE UPPER('mar%')``. A plain index on ``UPPER(name)`` answers it
only when the database's collation is "C"; with ``text_pattern_ops`` it does under any collation.
Django's ``OpClass`` (django.contrib.postgres) writes the operator class on every database, which
SQLite refuses, so the embedded run and the SQLite tests could not migrate: this one writes it on
PostgreSQL only. ``models.Index(F("merchant"), PatternOps(Upper("last_name")), name=…)``.

``name__upper_prefix="mar"``: ``istartswith`` that such an index answers under any plan. psycopg
prepares a statement at its 5th run on a connection, and after 5 more PostgreSQL may switch to a
generic plan, made without the pattern: it cannot turn ``LIKE`` into an index range and read every
customer of the merchant (300 ms at 500,000 cards instead of 5). This lookup also states the range,
``UPPER(name) ~>=~ UPPER(term) AND UPPER(name) ~<=~ UPPER(term) || U+10FFFF`` (byte order, as
text_pattern_ops sorts), which any plan uses; the ``LIKE`` stays, so the matches are the same.

``AddIndexConcurrently`` / ``RemoveIndexConcurrently``: migration operations that build and drop an
index without locking the table's writes on PostgreSQL (the POS keeps working during a deploy on a
table of a million cards), and plainly elsewhere. Django's own refuse SQLite. Their migration must
say ``atomic = False``.
"""

from django.contrib.postgres import operations as postgres_operations
from django.db.migrations import AddIndex, RemoveIndex
from django.db.models import CharField, Func, Lookup, OrderBy
from django.db.models.functions import Upper
from django.db.models.indexes import IndexExpression
from django.db.models.lookups import IStartsWith


class PatternOps(Func):
    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="%(expressions)s text_pattern_ops", **extra_context)


# An operator class follows the indexed expression, outside its parentheses: Django places the
# "wrappers" it knows there (as django.contrib.postgres does for OpClass: after OrderBy, before Collate).
if PatternOps not in IndexExpression.wrapper_classes:
    _wrappers = list(IndexExpression.wrapper_classes)
    _wrappers.insert(_wrappers.index(OrderBy) + 1 if OrderBy in _wrappers else 0, PatternOps)
    IndexExpression.register_wrappers(*_wrappers)


class _ConcurrentlyOnPostgreSQL:
    """Django's CONCURRENTLY operation on PostgreSQL, the ``plain`` one elsewhere."""

    plain: type[AddIndex] | type[RemoveIndex]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrently(_ConcurrentlyOnPostgreSQL, postgres_operations.AddIndexConcurrently):
    plain = AddIndex


class RemoveIndexConcurrently(_ConcurrentlyOnPostgreSQL, postgres_operations.RemoveIndexConcurrently):
    plain = RemoveIndex


@CharField.register_lookup
class UpperPrefix(Lookup):
    lookup_name = "upper_prefix"
    prepare_rhs = False
    LAST_CHARACTER = "\U0010ffff"  # sorts after every character, in UTF-8 bytes as in code points

    def as_sql(self, compiler, connection):
        return IStartsWith(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler, connection):
        upper_sql, upper_params = compiler.compile(Upper(self.lhs))
        like_sql, like_params = IStartsWith(self.lhs, self.rhs).as_sql(compiler, connection)
        sql = f"({upper_sql} ~>=~ UPPER(%s) AND {upper_sql} ~<=~ (UPPER(%s) || %s) AND {like_sql})"
        params = [*upper_params, self.rhs, *upper_params, self.rhs, self.LAST_CHARACTER, *like_params]
        return sql, params
