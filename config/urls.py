from django.conf import settings
from django.contrib import admin
from django.urls import path

admin.site.site_header = "Loyalty portal"
admin.site.site_title = "Loyalty portal admin"
admin.site.index_title = "Your loyalty programs"

urlpatterns = [
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
