"""Production settings: nothing here is only safe in development."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import env, mailer_from_url

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="")
# Django's own deploy check asks for 50 characters or more; a shorter key is refused at start, not warned about.
SECRET_KEY_MIN_LENGTH = 50
if not SECRET_KEY or SECRET_KEY.startswith("dev-only"):
    raise ImproperlyConfigured("SECRET_KEY must be set to a real secret in production.")
if len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        f"SECRET_KEY must be a real secret of at least {SECRET_KEY_MIN_LENGTH} characters (5 or more different ones)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Cookies only over HTTPS, never readable by scripts; the __Host- prefix also pins them to this
# host and path (a sibling subdomain cannot set or overwrite them).
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A year, as the HSTS preload list requires of a preloaded site.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Content-Security-Policy, nosniff, Referrer-Policy, COOP, X-Frame-Options: base.py, in every environment.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One database connection per web or worker process, kept between requests and checked before reuse:
# opening a PostgreSQL connection (a backend process and its authentication) costs several times what a
# whole trivial request does. DATABASE_CONN_MAX_AGE=0 closes it after every request again.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405

# Email must really go somewhere: no console default (`check --deploy` refuses one too).
MAILERS = {"default": mailer_from_url(env("EMAIL_URL"))}

# The simulated provider approves every charge: production must choose its
# payment provider explicitly (even if it is the simulated one, knowingly).
PAYMENT_PROVIDER = env("PAYMENT_PROVIDER")
# Referral throttling counts in the cache: share it between web processes.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
