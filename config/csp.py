"""Content-Security-Policy: Django's middleware, with the back-office's own policy.

Every page gets SECURE_CSP (no eval, inline scripts and <style> only with the response's
nonce). The admin's pages get ADMIN_CSP instead: its theme, django-unfold, runs Alpine.js's
standard build, which compiles each x-data and @click expression with `new Function`
('unsafe-eval'; unfold ships no CSP build), and writes <style> elements without a nonce.
Loosening only the admin keeps those allowances away from the cabinet, the till and the
API docs, which are the pages members and cashiers open.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware import csp


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        match = request.resolver_match
        # Any AdminSite's URLs, whatever their prefix; a view's own csp_override wins.
        in_admin = match is not None and "admin" in match.app_names
        if in_admin and not hasattr(response, "_csp_config"):
            response._csp_config = settings.ADMIN_CSP  # type: ignore[attr-defined]
        return super().process_response(request, response)
