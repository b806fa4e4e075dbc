"""List filters that read as sentences for a café owner ("By status: Active / Inactive").

Django titles a field's filter with the field's name ("By is active") and offers "Yes / No".
``titled(path, title, yes=…, no=…)`` gives the same filter a title and, for a yes/no field, its
own words; a relation stays scoped to the user's merchant (ScopedRelatedFieldListFilter).
"""

from django.contrib import admin

from merchants.admin_scoping import ScopedRelatedFieldListFilter


class _Titled(admin.FieldListFilter):
    """Builds the filter Django would, scoped when it is a relation, with our title and labels."""

    title_text = ""
    labels: tuple[str, str] | None = None
    empty_labels: tuple[str, str] | None = None

    def __new__(cls, field, request, params, model, model_admin, field_path):
        if field.is_relation:
            instance = ScopedRelatedFieldListFilter(field, request, params, model, model_admin, field_path)
        elif cls.empty_labels is not None:
            instance = _LabelledEmpty(field, request, params, model, model_admin, field_path)
            instance.labels = cls.empty_labels
        elif cls.labels is not None and field.get_internal_type() == "BooleanField":
            instance = _LabelledBoolean(field, request, params, model, model_admin, field_path)
            instance.labels = cls.labels
        else:
            instance = admin.FieldListFilter.create(field, request, params, model, model_admin, field_path)
        instance.title = cls.title_text
        return instance


class _LabelledBoolean(admin.BooleanFieldListFilter):
    labels = ("Yes", "No")

    def choices(self, changelist):
        for choice, label in zip(super().choices(changelist), [None, *self.labels, None], strict=False):
            if label is not None:
                choice["display"] = label
            yield choice


class _LabelledEmpty(admin.EmptyFieldListFilter):
    labels = ("Empty", "Not empty")

    def choices(self, changelist):
        for choice, label in zip(super().choices(changelist), [None, *self.labels], strict=False):
            if label is not None:
                choice["display"] = label
            yield choice


def titled(path: str, title, *, yes=None, no=None, empty=None, filled=None):
    """``list_filter`` entry for ``path`` titled ``title``; ``yes``/``no`` label a yes/no field,
    ``empty``/``filled`` label an empty-or-not filter."""
    attrs = {"title_text": title}
    if yes is not None:
        attrs["labels"] = (yes, no)
    if empty is not None:
        attrs["empty_labels"] = (empty, filled)
    return (path, type(f"Titled_{path.replace('__', '_')}", (_Titled,), attrs))
