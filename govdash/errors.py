"""Error pages, and the API's answer when an error escapes it: under /api/ every
error is JSON ``{"detail": ...}``, never an HTML page. The 500 page renders
without context processors or database access, because whatever failed may fail
again while rendering it."""

from __future__ import annotations

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseServerError,
    JsonResponse,
)
from django.template import loader
from django.views import defaults

from kernel.http import BadParameter

_API = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(_API)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400. A ``BadParameter``'s message says what was wrong; any other bad
    request (a disallowed host, a malformed header...) gets a general sentence."""
    if isinstance(exception, BadParameter):
        message = str(exception)
    else:
        message = "The request was malformed."
    if _is_api(request):
        return JsonResponse({"detail": message}, status=400)
    template = loader.get_template("errors/400.html")
    return HttpResponseBadRequest(template.render({"message": message}, request))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return defaults.permission_denied(
        request, exception or PermissionError(), template_name="errors/403.html"
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not Found"}, status=404)
    return defaults.page_not_found(request, exception, template_name="errors/404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    request_id = getattr(request, "request_id", "")
    if _is_api(request):
        return JsonResponse({"detail": "Server error", "request_id": request_id}, status=500)
    template = loader.get_template("errors/500.html")
    return HttpResponseServerError(template.render({"request_id": request_id}))
