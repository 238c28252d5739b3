"""Settings shared by every environment.

One `environ.Env` reads the process environment and, when present, a `.env`
file at the project root. Environment-specific modules (`local`,
`production`, `test`) import this one and override what differs.
"""

import datetime
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "competencies",
    "memberships",
    # The night's orchestration above both apps: its tasks, run_nightly, the hooks' receivers (apps.py).
    "partnercenter",
    # The partners' REST API (/api/v1/), its tokens and webhooks: beside partnercenter, above both apps.
    "rest_framework",
    "drf_spectacular",
    "api",
]

MIDDLEWARE = [
    # The headers first (outermost): they reach every response, the static files WhiteNoise serves and the
    # redirect to HTTPS SecurityMiddleware answers before any later middleware runs included.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "partnercenter.middleware.permissions_policy",
    "django.middleware.security.SecurityMiddleware",
    # 400 for a NUL or another control character in the path, query or form, before anything reads them.
    "partnercenter.middleware.refuse_unreadable_input",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in employee's saved language wins over the cookie and the browser's.
    "competencies.middleware.EmployeeLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "partnercenter.urls"
WSGI_APPLICATION = "partnercenter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "partnercenter.context_processors.organization",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'partnercenter.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The dashboard and the Celery worker share one SQLite file in `make run`:
    # wait for the other writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

# Security headers, in every environment (so the tests and `make run` obey them too).
# The Content-Security-Policy is Django's own: scripts, styles, images and fonts from this site only,
# no inline script or style attribute, no plugins, no framing, forms posted to this site only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Permissions-Policy (partnercenter.middleware): no page needs these browser features.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "competencies.Employee"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one email from one
# address, that email is refused from that address for AXES_COOLOFF_TIME, even with the right
# password; a success resets the count. The email is counted under its canonical form, as it is stored and
# looked up (competencies/identity.py): no other spelling of it is a fresh start.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts refused during the lockout do not restart it: the person who waits 15 minutes gets in.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_FORM_FIELD = "username"  # the sign-in form's field (AuthenticationForm), not USERNAME_FIELD
AXES_USERNAME_CALLABLE = "competencies.signin.signin_username"
AXES_LOCKOUT_CALLABLE = "competencies.signin.signin_locked_out"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
    ("zh-hant", _("Traditional Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Numbers grouped by thousands in Chinese too (partnercenter/formats/); dates are Django's per language.
FORMAT_MODULE_PATH = ["partnercenter.formats"]
# The switcher's choice outlives the browser session, like the sign-in does.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
# No script reads it (static/js/app.js); Secure in production (production.py).
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "static_root"

# Email: any django-environ email URL; the console by default. Django 6.1
# configures backends through MAILERS, so the URL is translated into one.
def mailer_from_url(url: str) -> dict:
    config = env.email_url_config(url)
    options = {}
    if config["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
        options = {
            "host": config["EMAIL_HOST"] or "localhost",
            "port": config["EMAIL_PORT"],
            "username": config["EMAIL_HOST_USER"],
            "password": config["EMAIL_HOST_PASSWORD"],
            "use_tls": bool(config.get("EMAIL_USE_TLS")),
            "use_ssl": bool(config.get("EMAIL_USE_SSL")),
            "timeout": 30,
        }
    elif config["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
        options = {"file_path": config["EMAIL_FILE_PATH"]}
    return {"BACKEND": config["EMAIL_BACKEND"], "OPTIONS": {k: v for k, v in options.items() if v is not None}}


MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="consolemail://"))}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Partner Center <no-reply@partnercenter.localhost>")
# Where emails link to: the address users reach the dashboard at (no trailing slash).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# Celery. The default broker needs no server: kombu's filesystem transport
# under var/. Point CELERY_BROKER_URL at Redis in production.
BROKER_DIR = VAR_DIR / "broker"
# "localhost" names no server (the transport ignores it): without it kombu warns on every connection.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker died (or whose acknowledgement was lost while Redis was away) is delivered
    # again after this many seconds. Longer than any task and any retry countdown (an hour at most).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600),
        # How often a worker looks for such tasks: every interval × throttle seconds (kombu's defaults).
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    }
# A worker that loses the broker keeps trying to reconnect until it is back, however long that takes.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 30
CELERY_TASK_SOFT_TIME_LIMIT = 60 * 25
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The one schedule of the nightly jobs (docs/design.md, "Nightly jobs"), its catch-up, and email retries.
CELERY_BEAT_SCHEDULE = {
    "nightly": {
        "task": "partnercenter.tasks.run_nightly",
        "schedule": crontab(hour=2, minute=0),
    },
    # The safety net: whatever of tonight's run a lost message or a dead worker left undone (idempotent).
    "nightly-catch-up": {
        "task": "partnercenter.tasks.nightly_catch_up",
        "schedule": crontab(hour="4-6", minute=0),
    },
    # Emails whose delivery failed (SMTP down) or whose worker died are retried.
    # Webhook events collected from the day's records and sent (api/tasks.py), retried with backoff.
    "deliver-webhooks": {
        "task": "api.tasks.deliver_webhooks",
        "schedule": crontab(minute="*"),
    },
    "deliver-pending-emails": {
        "task": "memberships.tasks.deliver_pending",
        "schedule": crontab(minute="*/5"),
    },
}

# Purchases are paid through one small interface; the simulated provider
# approves every charge. Production must name a real one.
PAYMENT_PROVIDER = env("PAYMENT_PROVIDER", default="memberships.payments.SimulatedProvider")
# A referral form posted faster than this is a bot's.
REFERRAL_MIN_SECONDS = env.int("REFERRAL_MIN_SECONDS", default=3)

# The first wait before an email the SMTP server refused is tried again (then 2x, 4x … up to an hour).
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=60)

# Evaluation is run in batches of this many organizations.
EVALUATION_BATCH_SIZE = env.int("EVALUATION_BATCH_SIZE", default=1000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# The REST API (docs/api.md): bearer tokens only (no session, so no CSRF), JSON, problem-details errors.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasToken"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests under this path are the API's: refusals before any view answer in problem details, not HTML.
API_PATH_PREFIX = "/api/"

SPECTACULAR_SETTINGS = {
    "TITLE": "Partner Center API",
    "DESCRIPTION": "An organization's competencies, people, membership and benefits (docs/api.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LevelEnum": "competencies.models.Level.choices"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_problem_responses"],
}
# Requests per token per minute; beyond, 429 with Retry-After.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=600)
# Webhooks: how long a receiver may take, the first retry's wait (then doubling), and the hosts that may be
# reached over plain HTTP (none in production: endpoints are HTTPS).
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_INSECURE_HOSTS = env.list("WEBHOOK_INSECURE_HOSTS", default=[])
