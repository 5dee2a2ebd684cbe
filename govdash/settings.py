"""govdash settings: read from the environment only (docs/operations.md, "Environment").

Nothing here is meant to be edited per deployment; set environment variables.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from kernel.email_url import base_url, email_settings
from kernel.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("GOVDASH_DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("GOVDASH_SECRET_KEY", "").strip()
    if key:
        if len(key) < 50 and not DEBUG:
            raise ImproperlyConfigured("GOVDASH_SECRET_KEY must be at least 50 characters long")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("GOVDASH_SECRET_KEY is required when GOVDASH_DEBUG is off")
    # DEBUG only: one generated key per checkout, so sessions survive a restart.
    path = BASE_DIR / ".secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("GOVDASH_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_rq",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "rules",
    "kernel",
    "govdash",
    "audit",
    "tracking",
    "reports",
    "approvals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response: pages, API, errors (CONTENT_SECURITY_POLICY).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "govdash.middleware.RequestIdMiddleware",
    # Before anything reads the path or the query (sessions, redirects, views).
    "govdash.middleware.RejectControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the request's user on audit events for account changes (govdash/account_audit.py).
    "govdash.account_audit.ActingUserMiddleware",
    "govdash.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks, so that it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "govdash.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "govdash.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "govdash.wsgi.application"
ASGI_APPLICATION = "govdash.asgi.application"

# --- Database -----------------------------------------------------------------


def _database() -> dict[str, object]:
    url = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'govdash.sqlite3'}")
    try:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be used: {exc}") from None
    engine = str(config.get("ENGINE", ""))
    if engine.endswith("sqlite3"):
        # The web process and the RQ workers write to one file: wait for the lock
        # instead of failing, take the write lock at the start of every atomic
        # block (so the audit chain head cannot be read stale), and use WAL so
        # readers never block the writer.
        config["CONN_MAX_AGE"] = 0
        # A file, not memory, for the test database: real RQ worker processes
        # in the tests must see the rows the test wrote.
        # One per test process, so that parallel runs never share a file.
        config["TEST"] = {
            "NAME": str(Path(tempfile.gettempdir()) / f"govdash-test-{os.getpid()}.sqlite3")
        }
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif engine.endswith("postgresql"):
        config["CONN_HEALTH_CHECKS"] = True
        # One test database per test process, so parallel runs never collide.
        config["TEST"] = {"NAME": f"test_{config.get('NAME') or 'govdash'}_{os.getpid()}"}
    else:
        raise ImproperlyConfigured(
            f"DATABASE_URL must point at PostgreSQL or SQLite, got engine {engine!r}"
        )
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ---------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    # django-axes' lockout check, marking the attempts it refuses (kernel/backends.py).
    "kernel.backends.LockoutBackend",
    # Rights: named permissions granted to roles (kernel.roles.GRANTS), with
    # object-level rules, all answered by has_perm (docs/architecture.md).
    "rules.permissions.ObjectPermissionBackend",
    "kernel.backends.PasswordBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Idle sessions expire (every request pushes the expiry forward), and so do
# sessions when the browser closes.
SESSION_COOKIE_AGE = env_int("GOVDASH_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# django-axes: failed-login lockout.
AXES_FAILURE_LIMIT = env_int("GOVDASH_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("GOVDASH_LOGIN_LOCKOUT_MINUTES", 30, minimum=1) / 60
# The client address is the one the audit trail records (behind a proxy, from
# X-Forwarded-For), and a lockout binds a username at one address together: many
# users share an address behind a proxy or NAT, and anyone can type anyone's name.
AXES_CLIENT_IP_CALLABLE = "govdash.middleware.client_address"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# An attempt refused during a lockout never had its password checked: not a failure.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Typed names are cut to the column axes stores them in (govdash/login.py).
AXES_USERNAME_CALLABLE = "govdash.login.axes_username"

# --- Security -------------------------------------------------------------------
# GOVDASH_HTTPS (default: on unless debugging) turns on secure cookies, HSTS and the
# redirect to HTTPS. Behind a TLS-terminating proxy set GOVDASH_BEHIND_PROXY=true
# so that X-Forwarded-Proto and X-Forwarded-For are trusted.

HTTPS = env_bool("GOVDASH_HTTPS", not DEBUG)
BEHIND_PROXY = env_bool("GOVDASH_BEHIND_PROXY", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("GOVDASH_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("GOVDASH_CSRF_TRUSTED_ORIGINS", [])
# Content-Security-Policy (django-csp): everything from govdash itself, nothing
# inline. Scripts and styles are the vendored files under static/ (no inline
# <script>, no on* handlers, no style attributes: templates and HTML built in
# Python alike); htmx is told not to inject its indicator <style> nor to eval
# (the htmx-config meta in templates/base.html). No framing, plugins, foreign
# <base> or form targets. The browser tests fail on any violation Chromium reports.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is polled by load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Internationalisation ---------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("GOVDASH_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("GOVDASH_MEDIA_ROOT", str(BASE_DIR / "media"))).resolve()
MEDIA_URL = "media/"
_MANIFEST = env_bool("GOVDASH_STATIC_MANIFEST", not DEBUG)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not _MANIFEST

# --- PDF reports (reports.documents) ------------------------------------------------

# Generated reports live in their own storage, never served as static media:
# every download goes through a view that checks the recorded SHA-256.
STORAGES["reports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(MEDIA_ROOT / "reports"), "base_url": None},
}
# Or S3-compatible object storage (django-storages), shared by every web and
# worker machine; credentials come from the standard AWS_* variables.
REPORTS_S3_BUCKET = env_str("GOVDASH_REPORTS_S3_BUCKET", "")
if REPORTS_S3_BUCKET:
    STORAGES["reports"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": REPORTS_S3_BUCKET,
            "endpoint_url": env_str("GOVDASH_REPORTS_S3_ENDPOINT_URL", "") or None,
            "location": "reports",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
# A render past this many seconds fails cleanly (the report records why).
REPORT_TIMEOUT_SECONDS = env_int("GOVDASH_REPORT_TIMEOUT_SECONDS", 600, minimum=1)
# ...and so does a render that needs more memory than this beyond the worker's
# own (0: no limit but the machine's). A 5,000-run report takes about 2.1 GB.
REPORT_MEMORY_MB = env_int("GOVDASH_REPORT_MEMORY_MB", 4096, minimum=0)
# PKCS#12 bundle that signs reports (PAdES); unset: reports are hashed, not signed.
REPORT_SIGNING_P12 = env_str("GOVDASH_SIGNING_P12", "")
REPORT_SIGNING_P12_PASSWORD = env_str("GOVDASH_SIGNING_P12_PASSWORD", "")
# RFC 3161 timestamp server (http(s) URL) for signed reports; unset: no timestamp.
# When set and it gives no timestamp, the report fails (docs/operations.md).
REPORT_TSA_URL = env_str("GOVDASH_REPORT_TSA_URL", "").strip()
if REPORT_TSA_URL:
    base_url(REPORT_TSA_URL, variable="GOVDASH_REPORT_TSA_URL")  # validates only
REPORT_TSA_TIMEOUT_SECONDS = env_int("GOVDASH_REPORT_TSA_TIMEOUT_SECONDS", 10, minimum=1)

# --- Background jobs ---------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# When Redis cannot be had (a laptop demo), jobs run inline in the caller.
JOBS_INLINE = env_bool("GOVDASH_JOBS_INLINE", False)
JOB_QUEUES = ("default", "sync", "assess", "reports")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600, "ASYNC": not JOBS_INLINE}
    for name in JOB_QUEUES
}
RQ_SHOW_ADMIN_LINK = False
# Report workers load the renderer once, before their first job (govdash/worker.py).
RQ = {"WORKER_CLASS": "govdash.worker.Worker"}
# Runs per assessment job: large enough that RQ's fork per job does not
# dominate, small enough that a lost worker costs little to redo.
ASSESS_BATCH_SIZE = env_int("GOVDASH_ASSESS_BATCH_SIZE", 500, minimum=1)
# A running assessment batch that has not reported for this long lost its worker.
ASSESS_STALE_SECONDS = env_int("GOVDASH_ASSESS_STALE_SECONDS", 120, minimum=10)
# A running sync that has not reported (one page) for this long lost its worker.
SYNC_STALE_SECONDS = env_int("GOVDASH_SYNC_STALE_SECONDS", 600, minimum=10)
# Work recorded as queued whose job RQ does not have (lost with Redis, or never
# handed over) is queued again once it has waited this long.
JOB_GRACE_SECONDS = env_int("GOVDASH_JOB_GRACE_SECONDS", 60, minimum=1)
# How often ``manage.py scheduler`` queues its periodic jobs (schedule and maintenance).
SCHEDULER_TICK_SECONDS = env_int("GOVDASH_SCHEDULER_TICK_SECONDS", 60, minimum=1)
# /healthz: the scheduler's maintenance tick is overdue after this long.
MAINTENANCE_OVERDUE_SECONDS = env_int("GOVDASH_MAINTENANCE_OVERDUE_SECONDS", 300, minimum=60)

# --- Tracking sources ------------------------------------------------------------------

# Variables a source may read its credential from, besides GOVDASH_SOURCE_TOKEN_*
# (see tracking.secrets): the operator's choice, never a web user's.
SOURCE_TOKEN_VARS = env_list("GOVDASH_SOURCE_TOKEN_VARS", [])

# --- Promotion delivery and notifications ------------------------------------------

# Absolute links in e-mails and webhooks sent from jobs (which have no request to ask).
BASE_URL = base_url(env_str("GOVDASH_BASE_URL", "http://127.0.0.1:8000"))
# E-mail: one URL (kernel/email_url.py), the console by default.
_EMAIL = email_settings(env_str("GOVDASH_EMAIL_URL", "console:"))
EMAIL_BACKEND: str = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST: str = _EMAIL["EMAIL_HOST"]
EMAIL_PORT: int = _EMAIL["EMAIL_PORT"]
EMAIL_HOST_USER: str = _EMAIL["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD: str = _EMAIL["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS: bool = _EMAIL["EMAIL_USE_TLS"]
EMAIL_USE_SSL: bool = _EMAIL["EMAIL_USE_SSL"]
EMAIL_TIMEOUT: int = _EMAIL["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL = env_str("GOVDASH_EMAIL_FROM", "govdash@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# An approved promotion is tried this many times, waiting BACKOFF, 2*BACKOFF, ... between
# tries, before it is marked failed (an admin can retry it).
PROMOTION_DELIVERY_ATTEMPTS = env_int("GOVDASH_PROMOTION_DELIVERY_ATTEMPTS", 3, minimum=1)
PROMOTION_DELIVERY_BACKOFF_SECONDS: float = env_int(
    "GOVDASH_PROMOTION_DELIVERY_BACKOFF_SECONDS", 5, minimum=0
)
# Connect and read timeout of each call to MLflow or a hook during delivery.
PROMOTION_DELIVERY_TIMEOUT_SECONDS: float = env_int(
    "GOVDASH_PROMOTION_DELIVERY_TIMEOUT_SECONDS", 10, minimum=1
)

# --- Logging -------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("GOVDASH_LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# --- Tables ---------------------------------------------------------------------------

DJANGO_TABLES2_TEMPLATE = "includes/table.html"
