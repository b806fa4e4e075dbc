"""Index helpers that keep PostgreSQL's strengths and still migrate on SQLite.

``PatternOps``: an index expression a ``LIKE 'MAR%'`` prefix search can use on PostgreSQL.

``istartswith`` is ``UPPER(name) LIKE UPPER('mar%')``. A plain index on ``UPPER(name)`` answers it
only when the database's collation is "C"; with ``text_pattern_ops`` it does under any collation.
Django's ``OpClass`` (django.contrib.postgres) writes the operator class on every database, which
SQLite refuses, so the embedded run and the SQLite tests could not migrate: this one writes it on
PostgreSQL only. ``models.Index(F("merchant"), PatternOps(Upper("last_name")), name=…)``.

``AddIndexConcurrently`` / ``RemoveIndexConcurrently``: migration operations that build and drop an
index without locking the table's writes on PostgreSQL (the POS keeps working during a deploy on a
table of a million cards), and plainly elsewhere. Django's own refuse SQLite. Their migration must
say ``atomic = False``.
"""

from django.contrib.postgres import operations as postgres_operations
from django.db.migrations import AddIndex, RemoveIndex
from django.db.models import Func, OrderBy
from django.db.models.indexes import IndexExpression


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


class AddIndexConcurrently(postgres_operations.AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(postgres_operations.RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
