"""The customer admin's onboarding and privacy tools: member import, data export, erasure.

Mixed into ``CustomerAdmin`` (customers/admin.py). Everything goes through the same services as
the command and the API: customers/imports.py, customers/privacy.py, customers/erasure.py.
"""

import json
import re
import time
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.errors import LoyaltyError
from customers import imports
from customers.erasure import MAX_REASON_LENGTH, erase_customer
from customers.models import Erasure
from customers.privacy import export_customer, export_filename
from merchants.authorization import is_operator, is_owner
from merchants.models import Merchant, Store
from merchants.selectors import scoped, staff_member_for

# The admin answers within the web server's timeout (30 s): bigger files go through the command.
ADMIN_MAX_FILE_BYTES = 5 * 1024 * 1024
ADMIN_MAX_ROWS = 50_000
SHOWN_ROWS = 200
PENDING_FOLDER = "member-imports"
PENDING_TOKEN = re.compile(r"\A[0-9a-f]{32}\Z")
PENDING_MAX_AGE_SECONDS = 24 * 3600


class EraseForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        help_text="Kept in the erasure record (who, when, why), without the person's data.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8, comma or semicolon separated; at most 5 MB (about 50,000 members).")
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.none(), required=False)
    store = forms.ModelChoiceField(
        queryset=Store.objects.none(),
        required=False,
        help_text="Recorded on the cards as the store they were issued at (optional).",
    )
    skip_invalid = forms.BooleanField(
        required=False, help_text="Import the valid rows and skip the invalid ones (otherwise nothing is imported)."
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = scoped(Store, user).order_by("merchant__name", "name")
        if is_operator(user):
            self.fields["merchant"].queryset = Merchant.objects.order_by("name")
            self.fields["merchant"].required = True
        else:
            del self.fields["merchant"]

    def clean(self):
        cleaned = super().clean()
        merchant = cleaned.get("merchant")
        store = cleaned.get("store")
        if merchant is not None and store is not None and store.merchant_id != merchant.pk:
            self.add_error("store", "Pick a store of that merchant.")
        return cleaned


class CustomerPrivacyAdminMixin:
    """URLs, actions and links of the import, export and erase tools."""

    def _may_import(self, request) -> bool:
        return is_operator(request.user) or is_owner(request.user)

    def has_erase_permission(self, request) -> bool:
        return is_operator(request.user) or is_owner(request.user)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="customers_customer_import"),
            path(
                "<path:object_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name="customers_customer_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_import": self._may_import(request)}
        return super().changelist_view(request, extra_context)

    @admin.display(description="Personal data")
    def privacy_links(self, obj):
        if not obj.pk:
            return "—"
        url = reverse("admin:customers_customer_export", args=[obj.pk])
        if obj.erased_at:
            return format_html('Erased on {}. <a href="{}">Download what is kept (JSON)</a>', obj.erased_at, url)
        return format_html('<a class="button" href="{}">Download everything kept (JSON)</a>', url)

    # --- export ---------------------------------------------------------------------------------

    def export_view(self, request, object_id):
        customer = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if customer is None:
            raise Http404("No such customer.")
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        response = HttpResponse(
            json.dumps(export_customer(customer), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(customer)}"'
        response["Cache-Control"] = "private, no-store"
        return response

    # --- erase ----------------------------------------------------------------------------------

    @admin.action(description="Erase the selected customers' personal data…", permissions=["erase"])
    def erase_customers(self, request, queryset):
        form = EraseForm(request.POST if "confirm_erase" in request.POST else None)
        if form.is_bound and form.is_valid():
            erased = already = 0
            for customer in queryset.select_related("merchant"):
                try:
                    result = erase_customer(
                        customer=customer,
                        reason=form.cleaned_data["reason"],
                        erased_by=request.user,
                        source=Erasure.Source.ADMIN,
                    )
                except LoyaltyError as exc:
                    self.message_user(request, f"Customer {customer.pk}: {exc.message}", messages.ERROR)
                    continue
                if result.already_erased:
                    already += 1
                else:
                    erased += 1
            if erased:
                self.message_user(
                    request,
                    f"Erased {erased} customer(s): personal data replaced, cards deactivated, wallet passes revoked. "
                    "The ledger is kept.",
                    messages.SUCCESS,
                )
            if already:
                self.message_user(request, f"{already} customer(s) had been erased already.", messages.INFO)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data",
            "opts": self.model._meta,
            "customers": list(queryset.select_related("merchant")[:500]),
            "count": queryset.count(),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/erase_confirmation.html", context)

    # --- import ---------------------------------------------------------------------------------

    def import_view(self, request):
        if not self._may_import(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Import members",
            "opts": self.model._meta,
            "columns": imports.COLUMNS,
            "max_rows": ADMIN_MAX_ROWS,
        }
        if request.method == "POST" and request.POST.get("token"):
            return self._import_pending(request, context)
        form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
        context["form"] = form
        if request.method == "POST" and form.is_valid():
            merchant = form.cleaned_data.get("merchant") or staff_member_for(request.user).merchant
            upload = form.cleaned_data["file"]
            store = form.cleaned_data.get("store")
            skip_invalid = form.cleaned_data["skip_invalid"]
            if upload.size > ADMIN_MAX_FILE_BYTES:
                form.add_error(
                    "file",
                    f"The file is {upload.size / 1024 / 1024:.1f} MB; the admin takes at most "
                    f"{ADMIN_MAX_FILE_BYTES // 1024 // 1024} MB. Split it, or use the import_members command.",
                )
                return TemplateResponse(request, "admin/customers/import_members.html", context)
            shown: list[dict] = []
            try:
                report = self._run(upload, merchant=merchant, store=store, dry_run=True, shown=shown)
            except imports.ImportFileError as exc:
                form.add_error("file", f"{exc.message} Nothing was imported.")
                return TemplateResponse(request, "admin/customers/import_members.html", context)
            token = ""
            if report.created and (report.ok or skip_invalid):
                token = self._keep_pending(upload, merchant)
            context.update(
                {
                    "report": report,
                    "shown": shown,
                    "merchant": merchant,
                    "store": store,
                    "skip_invalid": skip_invalid,
                    "token": token,
                    "file_name": upload.name,
                }
            )
        return TemplateResponse(request, "admin/customers/import_members.html", context)

    def _run(self, handle, *, merchant, store, dry_run, shown, skip_invalid=False, user=None, name=""):
        def on_row(line, outcome, member, problems):
            if len(shown) < SHOWN_ROWS:
                shown.append(
                    {
                        "line": line,
                        "outcome": str(outcome),
                        "what": member.describe() if member else "; ".join(str(problem) for problem in problems),
                    }
                )

        return imports.import_members(
            handle,
            merchant=merchant,
            store=store,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            imported_by=user,
            source_name=name,
            on_row=on_row if dry_run else None,
            max_rows=ADMIN_MAX_ROWS,
        )

    def _pending_path(self, merchant_id: int, token: str) -> str:
        return f"{PENDING_FOLDER}/{merchant_id}/{token}.csv"

    def _keep_pending(self, upload, merchant) -> str:
        """Keep the checked file until the owner confirms (a day at most), so it is not sent twice."""
        self._purge_pending(merchant.pk)
        token = uuid.uuid4().hex
        upload.seek(0)
        default_storage.save(self._pending_path(merchant.pk, token), upload)
        return token

    def _purge_pending(self, merchant_id: int) -> None:
        folder = f"{PENDING_FOLDER}/{merchant_id}"
        # Not every storage backend can list a folder or date a file (NotImplementedError); then the
        # old files simply stay until a backend that can does the purge.
        try:
            _, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotImplementedError, OSError):
            return
        for name in files:
            try:
                age = (timezone.now() - default_storage.get_modified_time(f"{folder}/{name}")).total_seconds()
            except (FileNotFoundError, NotImplementedError, OSError):
                continue
            if age > PENDING_MAX_AGE_SECONDS:
                default_storage.delete(f"{folder}/{name}")

    def _import_pending(self, request, context):
        token = request.POST.get("token", "")
        merchant_id = request.POST.get("merchant", "")
        merchant = scoped(Merchant, request.user).filter(pk=merchant_id).first() if merchant_id.isdigit() else None
        if merchant is None or not PENDING_TOKEN.match(token):
            raise Http404("No such import.")
        stored = self._pending_path(merchant.pk, token)
        if not default_storage.exists(stored):
            self.message_user(
                request, "This file was imported already or has expired: upload it again.", messages.WARNING
            )
            return HttpResponseRedirect(reverse("admin:customers_customer_import"))
        store_id = request.POST.get("store", "")
        store = Store.objects.filter(merchant=merchant, pk=store_id).first() if store_id.isdigit() else None
        skip_invalid = request.POST.get("skip_invalid") == "1"
        name = request.POST.get("file_name", "")[:100]
        started = time.monotonic()
        try:
            with default_storage.open(stored, "rb") as handle:
                report = self._run(
                    handle,
                    merchant=merchant,
                    store=store,
                    dry_run=False,
                    shown=[],
                    skip_invalid=skip_invalid,
                    user=request.user,
                    name=name,
                )
        except (imports.ImportFileError, imports.ImportAborted) as exc:
            self.message_user(request, f"{exc} Nothing was imported.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:customers_customer_import"))
        default_storage.delete(stored)
        elapsed = time.monotonic() - started
        if report.written:
            self.message_user(
                request,
                f"Imported {report.created} member(s) with {report.points} point(s) and {report.stamps} stamp(s) "
                f"in {elapsed:.1f} s; {report.existing} already member(s) unchanged, {report.invalid} invalid row(s) "
                "skipped.",
                messages.SUCCESS,
            )
        elif report.invalid:
            self.message_user(request, f"{report.invalid} invalid row(s): nothing was imported.", messages.ERROR)
        else:
            self.message_user(request, "Every member of this file is already here: nothing changed.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
