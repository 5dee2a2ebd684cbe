"""Django's e-mail settings from one URL (``GOVDASH_EMAIL_URL``) and a base URL check.

==========================================  =============================================
URL                                         backend
==========================================  =============================================
``console:`` (or empty: the default)        prints each message to the worker's stdout
``smtp://host[:port]``                      SMTP, plain (port 25 unless given)
``smtp+tls://user:pass@host[:port]``        SMTP with STARTTLS (port 587 unless given)
``smtp+ssl://user:pass@host[:port]``        SMTP over TLS from the start (port 465), also
                                            ``smtps://``
``locmem:``                                 kept in memory (``django.core.mail.outbox``)
``dummy:``                                  discarded
==========================================  =============================================

User name and password are percent-decoded (write ``@`` as ``%40``). The query may set
``timeout`` (seconds, default 10). Messages about a bad URL never repeat the password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_SIMPLE = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
# scheme -> (default port, STARTTLS, implicit TLS)
_SMTP_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+tls": (587, True, False),
    "smtp+ssl": (465, False, True),
    "smtps": (465, False, True),
}
DEFAULT_TIMEOUT = 10


def email_settings(url: str, *, variable: str = "GOVDASH_EMAIL_URL") -> dict[str, Any]:
    """The ``EMAIL_*`` settings ``url`` describes; ImproperlyConfigured naming ``variable``."""
    url = url.strip()
    if not url:
        return _simple("console")
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise ImproperlyConfigured(f"{variable} must be a URL such as smtp+tls://host:587")
    if scheme in _SIMPLE:
        return _simple(scheme)
    if scheme not in _SMTP_SCHEMES:
        known = ", ".join([*_SIMPLE, *_SMTP_SCHEMES])
        raise ImproperlyConfigured(
            f"{variable} has an unknown scheme {scheme!r}; use one of {known}"
        )
    default_port, starttls, implicit_tls = _SMTP_SCHEMES[scheme]
    try:
        parts = urlsplit(url)
        port = parts.port or default_port
    except ValueError:
        raise ImproperlyConfigured(f"{variable} has an invalid host or port") from None
    if not parts.hostname:
        raise ImproperlyConfigured(f"{variable} must name the SMTP host, e.g. {scheme}://host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ImproperlyConfigured(f"{variable} must not have a path or fragment")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"timeout"})
    if unknown:
        raise ImproperlyConfigured(f"{variable} has unknown options: {', '.join(unknown)}")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = int(query["timeout"][-1])
        except ValueError:
            timeout = 0
        if timeout < 1:
            raise ImproperlyConfigured(f"{variable}: timeout must be a whole number of seconds")
    return {
        "EMAIL_BACKEND": _SMTP,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": starttls,
        "EMAIL_USE_SSL": implicit_tls,
        "EMAIL_TIMEOUT": timeout,
    }


def _simple(scheme: str) -> dict[str, Any]:
    # Django's own defaults for the SMTP settings, which these backends ignore.
    return {
        "EMAIL_BACKEND": _SIMPLE[scheme],
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": DEFAULT_TIMEOUT,
    }


def base_url(url: str, *, variable: str = "GOVDASH_BASE_URL") -> str:
    """``url`` without a trailing slash, checked to be an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ImproperlyConfigured(f"{variable} is not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"{variable} must be an http(s) URL with a host, e.g. https://govdash.example"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{variable} must not carry credentials, a query or a fragment")
    return url.strip().rstrip("/")
