"""Admin template helpers: the owner's home figures and the "View site" link to the join page."""

from django import template
from django.urls import reverse

from merchants.selectors import staff_member_for

register = template.Library()


@register.inclusion_tag("admin/insights/home_summary.html", takes_context=True)
def insights_home(context):
    from insights.admin_views import home_summary

    request = context.get("request")
    return {"home": home_summary(request) if request is not None else None}


@register.simple_tag(takes_context=True)
def merchant_site_url(context) -> str:
    """The merchant's join page for its staff; the site root (the default) for the operator."""
    request = context.get("request")
    member = staff_member_for(request.user) if request is not None else None
    if member is not None:
        return reverse("customers:join", args=[member.merchant.slug])
    return ""  # the operator: the site root is no page of its own
