from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from merchants.login_forms import LimitedAdminAuthenticationForm, admin_login

admin.site.site_header = "Loyalty portal"
admin.site.site_title = "Loyalty portal admin"
admin.site.index_title = "Your loyalty programs"
# Sign-ins count against the shared limits (merchants/login_limits.py); refusals answer 429.
admin.site.login_form = LimitedAdminAuthenticationForm

urlpatterns = [
    path("admin/login/", admin_login),
    path("admin/insights/", include("insights.admin_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("loyalty.api.urls")),
    path("pos/", include("loyalty.pos_urls")),
    path("wallet/", include("wallet.urls")),
    path("", include("customers.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
