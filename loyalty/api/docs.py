"""The interactive API docs at /api/v1/docs/ (Swagger UI from drf-spectacular-sidecar, no CDN).

drf-spectacular's split view serves Swagger UI's start-up script from ``?script`` instead of
inline, so the page runs under the site's Content-Security-Policy (``script-src 'self'``,
config/security_headers.py); our template only adds the request's nonce to its one ``<style>``.
The page is HTML only: OPTIONS answers the allowed methods without a body instead of asking
the HTML renderer to draw metadata it has no template for (a 500).
"""

from django.http import HttpResponse
from drf_spectacular.views import SpectacularSwaggerSplitView


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"

    def options(self, request, *args, **kwargs):
        return HttpResponse(status=200, headers={"Allow": ", ".join(self.allowed_methods)})
