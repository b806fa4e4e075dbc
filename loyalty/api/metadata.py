"""What the staff API answers to OPTIONS.

DRF's ``SimpleMetadata`` describes the fields of the view's ``serializer_class`` for POST and
PUT. Our viewsets have one input serializer per action and no ``serializer_class`` (../../STYLE.md,
"Views are thin"), so it failed with a 500 on every mutation. OPTIONS here says what the
endpoint is, which methods it allows and which media types it reads and writes; the request
and answer shapes are in the OpenAPI document at /api/v1/schema/.
"""

from django.urls import reverse
from rest_framework.metadata import BaseMetadata


class EndpointMetadata(BaseMetadata):
    def determine_metadata(self, request, view) -> dict:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "allowed_methods": view.allowed_methods,
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": reverse("api:schema"),
        }
