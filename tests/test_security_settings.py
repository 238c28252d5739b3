"""Security headers on every response, and production settings that `check --deploy` finds nothing to say about."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from .common import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "partnercenter.settings.production",
    "SECRET_KEY": "k7#Qv9!xR2@mW4$zT8^pL1&nB6*cF3(hJ5)dS0-gY7+aE2=uI9",
    "ALLOWED_HOSTS": "partners.example.com",
    "EMAIL_URL": "smtp://mailer:secret@smtp.example.com:587/?tls=True",
    "PAYMENT_PROVIDER": "memberships.payments.SimulatedProvider",
}


def production(*args, env=None, drop=()):
    # A clean environment, as a deployment has: only what the process needs to run, then production's own.
    environment = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    environment.update({k: v for k, v in (env or PRODUCTION_ENV).items() if k not in drop})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def production_values(expression: str, env=None):
    """`expression` (over `s`, the settings) evaluated in a process started with production's settings."""
    script = f"import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({expression}))"
    result = production("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_finds_nothing_with_production_settings():
    result = production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "PAYMENT_PROVIDER"])
def test_production_refuses_to_start_without_its_real_configuration(missing):
    result = production("manage.py", "check", drop=[missing])
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_the_development_secret_key():
    result = production("manage.py", "check", env={**PRODUCTION_ENV, "SECRET_KEY": "dev-only-insecure-key-change-me"})
    assert result.returncode != 0 and "SECRET_KEY must be set to a real secret" in result.stderr


def test_production_cookies_are_secure_http_only_and_host_bound_and_hsts_lasts_a_year():
    assert production_values(
        "{k: getattr(s, k) for k in ['DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'CSRF_COOKIE_HTTPONLY', 'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD']}"
    ) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
    }


EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(response) -> dict:
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_carries_the_security_headers(client, admin, signed_in):
    if signed_in:
        client.login(username=admin.email, password=PASSWORD)
    urls = [reverse("login"), reverse("partners"), reverse("admin:login"), "/no/such/page/", "/static/css/app.css"]
    if signed_in:
        urls += [reverse("dashboard:home"), reverse("dashboard:competencies"), reverse("dashboard:membership")]
    for url in urls:
        response = client.get(url)
        assert policy(response) == EXPECTED_POLICY, url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
        assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"], url


def test_no_template_has_an_inline_style_script_or_handler():
    """What the policy forbids, caught before a browser is started (emails are not served under it)."""
    import re

    offending = []
    pattern = re.compile(r"""\sstyle\s*=|<style[\s>]|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:""", re.I)
    for path in (ROOT / "templates").rglob("*.html"):
        if "emails" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offending == []


@pytest.mark.parametrize("env, expected", [({}, [600, True]), ({"DATABASE_CONN_MAX_AGE": "0"}, [0, True])])
def test_production_keeps_its_database_connection_between_requests_unless_told_not_to(env, expected):
    database = "s.DATABASES['default']"
    assert production_values(f"[{database}['CONN_MAX_AGE'], {database}['CONN_HEALTH_CHECKS']]",
                             env={**PRODUCTION_ENV, **env}) == expected


# ---------------------------------------------------------------------------
# Issue 19's informational findings: headers everywhere, the language cookie, the key's length


def assert_security_headers(response, where):
    assert policy(response) == EXPECTED_POLICY, where
    assert response["X-Frame-Options"] == "DENY", where
    assert "camera=()" in response["Permissions-Policy"], where
    assert response["X-Content-Type-Options"] == "nosniff", where


def test_static_files_served_by_whitenoise_carry_the_security_headers(settings):
    # As in production, WhiteNoise answers before Django's views (it finds the files as collectstatic would).
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    from django.test import Client

    for url in ("/static/css/app.css", "/static/js/app.js", "/static/favicon.svg"):
        response = Client().get(url)
        assert response.status_code == 200 and type(response).__name__ == "WhiteNoiseFileResponse", url
        assert_security_headers(response, url)


def test_the_redirect_to_https_carries_the_security_headers(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    from django.test import Client

    for url in (reverse("partners"), reverse("login"), "/static/css/app.css"):
        response = Client().get(url)
        assert response.status_code == 301 and response["Location"].startswith("https://"), url
        assert_security_headers(response, url)


def test_the_language_cookie_is_http_only_and_secure_in_production(client, db):
    assert production_values("[s.LANGUAGE_COOKIE_SECURE, s.LANGUAGE_COOKIE_HTTPONLY, s.LANGUAGE_COOKIE_SAMESITE]") == [
        True, True, "Lax"]
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/partners/"})
    cookie = response.cookies["django_language"]
    assert cookie.value == "zh-hans" and cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.parametrize("key", ["short", "x" * 49, "ab" * 30])
def test_production_refuses_a_secret_key_shorter_than_50_characters_or_of_few_characters(key):
    result = production("manage.py", "check", env={**PRODUCTION_ENV, "SECRET_KEY": key})
    assert result.returncode != 0 and "at least 50 characters" in result.stderr
