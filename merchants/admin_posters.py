"""The store admin's poster: a link on the store's page, a list action, the print view."""

from django.contrib import admin
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.http import urlencode

from merchants.posters import LANGUAGES, poster_for, poster_language

MAX_POSTERS = 100


class StorePosterAdminMixin:
    def get_urls(self):
        return [
            path("posters/", self.admin_site.admin_view(self.posters_view), name="merchants_store_posters"),
            *super().get_urls(),
        ]

    @admin.display(description="Poster")
    def poster_link(self, obj):
        if not obj.pk:
            return "—"
        url = reverse("admin:merchants_store_posters") + "?" + urlencode({"ids": obj.pk})
        return format_html(
            '<a class="button" href="{}" target="_blank" rel="noopener">Print the join poster (A4)</a> '
            '<a href="{}&amp;lang=fr" target="_blank" rel="noopener">en français</a>',
            url,
            url,
        )

    @admin.action(description="Print the join posters of the selected stores")
    def print_posters(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:MAX_POSTERS])
        return HttpResponseRedirect(reverse("admin:merchants_store_posters") + "?" + urlencode({"ids": ids}))

    def posters_view(self, request):
        raw = [part for part in request.GET.get("ids", "").split(",") if part.strip()]
        if not raw or len(raw) > MAX_POSTERS or not all(part.strip().isdigit() and len(part) < 19 for part in raw):
            raise Http404("Pick stores to print.")
        stores = list(self.get_queryset(request).filter(pk__in=[int(part) for part in raw]).select_related("merchant"))
        if not stores or not self.has_view_permission(request):
            raise Http404("No such store.")
        language = poster_language(request.GET.get("lang"))
        with translation.override(language):
            posters = [poster_for(store) for store in stores]
            base = reverse("admin:merchants_store_posters") + "?" + urlencode({"ids": ",".join(raw)})
            context = {
                "posters": posters,
                "language": language,
                "switch": [(code, f"{base}&lang={code}", code == language) for code in LANGUAGES],
                "back_url": reverse("admin:merchants_store_changelist"),
            }
            response = TemplateResponse(request, "admin/merchants/store_poster.html", context)
            response.render()  # rendered in the poster's language
        return response
