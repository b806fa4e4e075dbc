"""Content-Security-Policy on every response (Django 5.2 has none built in).

Every page's scripts are files served from the site (``script-src 'self'``: no inline script,
no event-handler attribute, no eval); styles are files too, plus ``<style>`` blocks carrying the
request's nonce (``request.csp_nonce``) for the few values a page computes: the merchant's
brand colours, a card's stamp progress, Swagger UI's page. Inline ``style="…"`` attributes are
refused, so markup injected into a page could neither run script nor restyle it.

A view may set its own ``Content-Security-Policy`` header; it is then left as it is.
"""

import secrets

from django.http import HttpRequest, HttpResponse

POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'nonce-{nonce}'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "media-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)


def policy(nonce: str) -> str:
    return "; ".join(POLICY).format(nonce=nonce)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy(request.csp_nonce)
        return response
