from django.conf import settings
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Loyalty portal"
admin.site.site_title = "Loyalty portal admin"
admin.site.index_title = "Your loyalty programs"

urlpatterns = [
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
