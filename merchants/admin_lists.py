"""Admin lists that cost the same at 10 million rows as at 100: the cards, customers and ledger.

Django's change list counts every matching row (``COUNT(*)``, and the unfiltered set again for
"N total"), offers facet counts, sorts by any column and redirects a page past the end to the bare
list; over a merchant's 10 million ledger rows each count and sort reads the whole table. Here the
count stops at COUNT_CAP (a COUNT over a ``LIMIT COUNT_CAP + 1`` subquery, shown as "more than
1,000"), so only the first COUNT_CAP rows are paged through (filters and the search narrow the
rest); facets are off; only the columns an index orders can be sorted (``sortable_by``); a page's
rows are read by id, so only they are joined to what the list shows (``page_by_ids``); a page past
the end shows the last page with a message; and "select all" never acts on more than was counted.
Templates: admin/pagination.html, search_form.html and actions.html show the capped count.
"""

import copy

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models.query import ModelIterable
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from merchants.admin_scoping import MerchantScopedAdmin
from merchants.authorization import is_operator

COUNT_CAP = 1_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows: the cost is that of reading COUNT_CAP + 1 index entries, whatever the size."""

    @cached_property
    def found(self) -> int:
        # No order and only the pk: the planner takes whichever index finds cap + 1 rows soonest (a name
        # search: the name index, not a walk of the whole list in date order); the slice makes Django
        # count a LIMIT subquery.
        return self.object_list.order_by().values("pk")[: COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.found > COUNT_CAP

    @cached_property
    def count(self) -> int:
        return min(self.found, COUNT_CAP)

    def _get_page(self, object_list, number, paginator):
        return super()._get_page(page_by_ids(object_list), number, paginator)


def page_by_ids(rows):
    """A page's rows read by id: its ids chosen first, then only those rows read with what they show.

    ``rows[50:100]`` with the related rows joined (``list_select_related``) joins every candidate before
    the sort and the OFFSET keep 50 of them: a name searched in the cards list joined 2,700 cards to
    their customer, program and merchant for one page. Here a subquery picks the page's ids in the
    list's order (from an index alone where one covers it) and the outer query reads those ids by
    primary key with the joins, in the same order: the same rows, in one query. Anything the outer
    query could not copy (annotations, DISTINCT, deferred fields, prefetches) keeps the plain slice.
    """
    query = getattr(rows, "query", None)
    if (
        query is None
        or not query.is_sliced
        or rows._iterable_class is not ModelIterable
        or query.annotations
        or query.distinct
        or query.extra
        or query.combinator
        or query.deferred_loading != (frozenset(), True)
        or rows._prefetch_related_lookups
        or not query.order_by
    ):
        return rows
    page = rows.model._base_manager.using(rows.db).filter(pk__in=rows.values("pk"))
    page.query.select_related = copy.deepcopy(query.select_related)
    return page.order_by(*query.order_by)


def capped_count_text(count: int) -> str:
    return _("more than %(count)s") % {"count": number_format(count, force_grouping=True)}


class CappedChangeList(ChangeList):
    """The change list with the capped count, sorting limited to ``sortable_by`` and a forgiving page number."""

    def get_ordering_field(self, field_name):
        # Django sorts by any column named in ?o=, even one left out of sortable_by: refuse it here.
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_results(self, request):
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        result_count = paginator.count
        capped = getattr(paginator, "capped", False)
        can_show_all = result_count <= self.list_max_show_all and not capped
        multi_page = result_count > self.list_per_page
        if (self.show_all and can_show_all) or not multi_page:
            result_list = self.queryset._clone()
        else:
            # Django answers a page past the end with a redirect to the list, filters and search lost.
            last = paginator.num_pages
            if self.page_num > last:
                self.model_admin.message_user(request, self.past_the_end(last, capped), messages.WARNING)
                self.page_num = last
            self.page_num = max(self.page_num, 1)
            result_list = paginator.page(self.page_num).object_list
        self.result_count = result_count
        self.count_capped = capped
        self.count_text = capped_count_text(result_count) if capped else str(result_count)
        # Nothing counts the unfiltered list ("N total"): the actions show even on an empty list.
        self.show_full_result_count = False
        self.full_result_count = None
        self.show_admin_actions = True
        self.result_list = result_list
        self.can_show_all = can_show_all
        self.multi_page = multi_page
        self.paginator = paginator

    def past_the_end(self, last: int, capped: bool) -> str:
        if capped:
            return _(
                "Only the first %(count)s rows are shown page by page (%(pages)s pages): "
                "narrow the list with the filters or the search to see the others."
            ) % {"count": number_format(COUNT_CAP, force_grouping=True), "pages": last}
        return _("Page %(page)s does not exist: the list has %(pages)s pages. Here is the last one.") % {
            "page": self.page_num,
            "pages": last,
        }


class LargeListAdmin(MerchantScopedAdmin):
    """A merchant-scoped admin whose list stays fast at any size (see the module's docstring).

    Subclasses name in ``sortable_by`` only columns a (merchant, column) index orders. The operator's
    lists span every merchant, where those indexes do not order: they use ``operator_ordering`` and
    ``operator_sortable_by`` (columns with an index of their own).
    """

    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    operator_ordering: list[str] | None = ["-pk"]  # newest first, on the primary key
    operator_sortable_by: list[str] = []

    def get_changelist(self, request, **kwargs):
        return CappedChangeList

    def get_ordering(self, request):
        if self.operator_ordering is not None and is_operator(request.user):
            return self.operator_ordering
        return super().get_ordering(request)

    def get_sortable_by(self, request):
        if is_operator(request.user):
            return self.operator_sortable_by
        return super().get_sortable_by(request)

    def response_action(self, request, queryset):
        # "Select all" on a list counted only up to the cap would act on rows nobody saw counted.
        selected_all = request.POST.get("select_across") == "1"
        if selected_all and queryset.values("pk")[: COUNT_CAP + 1].count() > COUNT_CAP:
            self.message_user(
                request,
                _(
                    "An action runs on at most %(count)s rows at once: narrow the list with the filters "
                    "or the search, then select all again."
                )
                % {"count": number_format(COUNT_CAP, force_grouping=True)},
                messages.WARNING,
            )
            return None
        return super().response_action(request, queryset)
