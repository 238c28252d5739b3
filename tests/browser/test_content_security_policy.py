"""The pages obey their Content-Security-Policy: Chromium reports no violation on any main page.

The policy (settings SECURE_CSP) allows scripts and styles from the site
only: no inline `style=` attribute, `<style>` or `<script>` block, no
`onclick=`. Chromium fires `securitypolicyviolation` for anything it
blocks; an init script records those on every page, and the console is
watched too. The two behaviours that moved into static/js/app.js (the
confirm before re-associating, the language switcher) are exercised, so
a policy that blocked the script would show.
"""

import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from competencies.models import Association, Override

from ..common import NOW
from .conftest import screenshot
from .test_override_admin_flow import choose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "demo-partner-2026"

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())


class PolicyWatch:
    """Visits pages and collects every CSP violation and CSP console message, with the page it happened on."""

    def __init__(self, page):
        self.page = page
        self.violations: list[str] = []
        self.visited: list[str] = []
        self.policies: set[str] = set()
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append(f"{self.page.url}: console: {message.text}")

    def _response(self, response):
        if response.request.resource_type == "document":
            self.policies.add(response.headers.get("content-security-policy", "MISSING"))

    def check(self, name: str):
        """Record what the current page reported, and leave a screenshot."""
        self.page.wait_for_load_state("load")
        self.visited.append(self.page.url)
        for violation in self.page.evaluate("window.__cspViolations || []"):
            self.violations.append(f"{self.page.url}: {violation}")
        screenshot(self.page, f"csp-{name}")

    def visit(self, path: str, name: str):
        self.page.goto(self.page.base_url + path)
        self.check(name)

    def sign_in(self, email: str):
        self.page.goto(self.page.base_url + "/accounts/login/")
        self.page.fill("#id_username", email)
        self.page.fill("#id_password", DEMO_PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("load")

    def sign_out(self):
        self.page.context.clear_cookies()


def test_no_page_breaks_its_content_security_policy(page, demo):
    watch = PolicyWatch(page)
    with time_machine.travel(NOW, tick=True):
        # Anonymous: sign-in, the directory, a profile.
        watch.visit("/accounts/login/", "sign-in")
        watch.visit("/partners/", "directory")
        watch.visit("/partners/1000001/", "partner-profile")

        # An admin of a Gold member: every dashboard page.
        watch.sign_in("ava.chen@contoso.example")
        for path, name in [
            ("/dashboard/", "dashboard"),
            ("/dashboard/membership/", "membership"),
            ("/dashboard/membership/competencies/", "competencies"),
            ("/dashboard/membership/competencies/cloud-platform/", "competency"),
            ("/dashboard/membership/benefits/", "benefits"),
            ("/dashboard/profile/", "profile"),
            ("/dashboard/certifications/", "certifications"),
        ]:
            watch.visit(path, name)

        # The language switcher submits on change (static/js/app.js, not an inline handler).
        watch.visit("/dashboard/", "dashboard-before-switch")
        with page.expect_navigation():
            page.select_option("#language-select", "zh-hans")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        watch.check("dashboard-zh-hans")
        with page.expect_navigation():
            page.select_option("#language-select", "en")
        assert page.locator("html").get_attribute("lang") == "en"
        watch.sign_out()

        # An employee at risk; then the confirm behind every data-confirm button (static/js/app.js) asks first.
        watch.sign_in("sam.lee@fabrikam.example")
        watch.visit("/dashboard/", "dashboard-at-risk")
        watch.visit("/dashboard/certifications/", "certifications-at-risk")
        page.evaluate("""() => {
          const form = document.createElement("form");
          form.method = "post"; form.action = "/dashboard/certifications/associate/";
          const button = document.createElement("button");
          button.type = "submit"; button.id = "confirm-probe"; button.dataset.confirm = "End your association?";
          form.append(button); document.querySelector("main").append(form);
        }""")
        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        associations = Association.objects.count()
        page.click("#confirm-probe")
        page.wait_for_timeout(300)
        assert asked == ["End your association?"]
        assert page.url.endswith("/dashboard/certifications/") and Association.objects.count() == associations
        watch.check("certifications-confirm-dismissed")
        watch.sign_out()

        # Too many failed sign-ins: the lockout page.
        page.goto(page.base_url + "/accounts/login/")
        for _ in range(5):
            page.fill("#id_username", "zoe.martin@tailspin.example")
            page.fill("#id_password", "not the password")
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
        assert "Too many failed sign-ins" in page.locator("main, .login-box").first.inner_text()
        watch.check("locked-out")

        # A Microsoft agent in Django admin: the pages an agent uses.
        watch.sign_in("agent@partnercenter.example")
        override = Override.objects.first()
        for path, name in [
            ("/admin/", "admin-index"),
            ("/admin/competencies/override/", "admin-overrides"),
            (f"/admin/competencies/override/{override.pk}/change/", "admin-override"),
            (f"/admin/competencies/override/{override.pk}/revoke/", "admin-override-revoke"),
            ("/admin/competencies/organization/", "admin-organizations"),
            ("/admin/competencies/competencystatus/", "admin-statuses"),
            ("/admin/competencies/competency/", "admin-competencies"),
            ("/admin/competencies/override/add/", "admin-override-add"),
        ]:
            watch.visit(path, name)
        # The add form's autocomplete widgets and the preview (a POST) run under the policy too.
        choose(page, "organization", "Tailspin")
        choose(page, "competency", "Cloud Platform")
        page.select_option("#id_level", "silver")
        page.fill("#id_reason", "Exam results pending at Pearson VUE")
        page.click("input[name=_preview]")
        assert "Preview: nothing is saved yet" in page.locator(".override-preview").inner_text()
        watch.check("admin-override-preview")

    assert len(watch.visited) >= 20
    assert watch.violations == []
    assert watch.policies and "MISSING" not in watch.policies
    [policy] = watch.policies
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
