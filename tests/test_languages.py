"""The product in English, Simplified and Traditional Chinese: every page, the switcher, the saved preference.

The pages are the demo's (seed_demo): a Gold member, an at-risk Silver
member, an override, an empty organization and an agent, so every page
shows its banners, tables and forms. A page counts as fully translated when
none of the product's English messages shows on it: each message of the
catalogs (less those whose words are the same in Chinese, or that are also
catalog or demo content, such as an offer's name) is looked for in the
page's visible text and in the attributes a person reads (title,
aria-label, placeholder, button values, confirmations).
"""

import datetime
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from competencies.models import (
    AttainmentOption,
    CenterOfExcellence,
    Competency,
    Credential,
    Employee,
    Invitation,
    Metric,
    Organization,
    Override,
)
from memberships.models import Benefit
from partnercenter.management.commands.seed_demo import AGENT_EMAIL, DEMO_PASSWORD

from .common import TODAY

GOLD_MEMBER, AT_RISK_MEMBER, OVERRIDE_MEMBER = "ava.chen@contoso.example", "sam.lee@fabrikam.example", \
    "olivia.wong@northwind.example"
LOCALE = Path(settings.BASE_DIR) / "locale"
# What a browser in each market sends, and what the product makes of it.
BROWSERS = {"zh-hans": "zh-CN,zh;q=0.9,en;q=0.5", "zh-hant": "zh-TW,zh;q=0.9,en;q=0.5"}
CATALOGS = {"zh-hans": "zh_Hans", "zh-hant": "zh_Hant"}
# The terms, as each page shows them.
TERMS = {
    "zh-hans": {"competency": "能力", "silver": "银牌", "gold": "金牌", "membership": "成员身份", "benefits": "权益",
                "override": "成就替代", "path": "成就途径",
                "at_risk": "你的能力成就的最新变化已使你的成员身份续订资格面临风险。"},
    "zh-hant": {"competency": "專長認證", "silver": "銀級", "gold": "金級", "membership": "會員資格", "benefits": "權益",
                "override": "成就覆寫", "path": "達成路徑",
                "at_risk": "您的專長認證成就最近的變更，已經對您的會員續約資格產生風險。"},
}


class _Reader(HTMLParser):
    """The text of a page a person reads: text nodes (no script or style) and the attributes shown to them."""

    SHOWN = {"title", "aria-label", "placeholder", "data-confirm", "alt"}

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        attrs = dict(attrs)
        for name in self.SHOWN & set(attrs):
            self.parts.append(attrs[name] or "")
        if tag == "input" and attrs.get("type") in ("submit", "button"):
            self.parts.append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    reader = _Reader()
    reader.feed(html)
    return " ".join(" ".join(reader.parts).split())


def content_words() -> str:
    """Everything the catalog and the demo wrote (names, titles, descriptions): not the product's own words."""
    texts = [*Competency.objects.values_list("name", flat=True), *CenterOfExcellence.objects.values_list("name", flat=True),
             *AttainmentOption.objects.values_list("name", flat=True), *Credential.objects.values_list("title", flat=True),
             *Metric.objects.values_list("name", flat=True), *Benefit.objects.values_list("name", flat=True),
             *Benefit.objects.values_list("description", flat=True),
             *Organization.objects.values_list("name", flat=True), *Organization.objects.values_list("description", flat=True),
             *Organization.objects.values_list("country", flat=True), *Employee.objects.values_list("name", flat=True),
             *Override.objects.values_list("reason", flat=True)]
    return "\n".join(texts)


def english_messages(language: str) -> list[tuple[str, re.Pattern]]:
    """The product's English messages that must not show on a page in `language`, as whole-word patterns.

    Left out: words the same in Chinese (MPN ID), content's words, and the
    languages' names (the switcher names each language in itself: English).
    """
    content = content_words()
    with translation.override("en"):
        names = {str(name) for _code, name in settings.LANGUAGES}
    patterns = []
    for entry in polib.pofile(str(LOCALE / CATALOGS[language] / "LC_MESSAGES" / "django.po")):
        text = entry.msgid
        if entry.msgstr == text or text in names or "%" in text or "<" in text or len(text) < 3 or not re.search("[A-Za-z]{3}", text):
            continue
        pattern = re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])")
        if pattern.search(content):
            continue  # also content: "Microsoft Action Pack subscription" is an offer's name too
        patterns.append((text, pattern))
    return patterns


def untranslated(html: str, patterns: list[tuple[str, re.Pattern]]) -> list[str]:
    text = visible_text(html)
    return sorted({msgid for msgid, pattern in patterns if pattern.search(text)})


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--date", TODAY.isoformat(), stdout=io.StringIO())
    with time_machine.travel(datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.UTC), tick=False):
        yield


def pages(client):
    """(who, url) for every page of the product, signed in as the demo person who sees most on it."""
    override = Override.objects.get(organization__mpn_id="1000003")
    invitation = Invitation.objects.get(email="liam.patel@contoso.example")
    jane = Employee.objects.get(email="jane.doe@fabrikam.example")
    return [
        (None, "/accounts/login/"),
        (None, "/partners/"),
        (None, "/partners/1000001/"),
        (None, "/no-such-page/"),
        (AT_RISK_MEMBER, "/dashboard/"),
        (AT_RISK_MEMBER, "/dashboard/membership/"),
        (AT_RISK_MEMBER, "/dashboard/membership/competencies/"),
        (AT_RISK_MEMBER, "/dashboard/membership/competencies/cloud-platform/"),
        (AT_RISK_MEMBER, "/dashboard/membership/benefits/"),
        (AT_RISK_MEMBER, "/dashboard/certifications/"),
        (AT_RISK_MEMBER, "/dashboard/profile/"),
        (GOLD_MEMBER, "/dashboard/membership/"),
        (GOLD_MEMBER, "/dashboard/membership/benefits/"),
        (GOLD_MEMBER, "/dashboard/membership/competencies/cloud-platform/"),
        (OVERRIDE_MEMBER, "/dashboard/membership/competencies/data-platform/"),
        ("zoe.martin@tailspin.example", "/dashboard/membership/"),
        ("zoe.martin@tailspin.example", "/dashboard/membership/competencies/cloud-platform/"),
        ("liam.patel@contoso.example", "/dashboard/profile/"),
        ("liam.patel@contoso.example", "/dashboard/certifications/"),
        ("liam.patel@contoso.example", f"/dashboard/certifications/invitations/{invitation.pk}/"),
        ("zoe.martin@tailspin.example", "/dashboard/people/"),
        (GOLD_MEMBER, "/dashboard/people/"),
        (GOLD_MEMBER, f"/dashboard/people/{jane.pk}/remove/"),
        (AGENT_EMAIL, "/admin/"),
        (AGENT_EMAIL, "/admin/competencies/override/"),
        (AGENT_EMAIL, "/admin/competencies/override/add/"),
        (AGENT_EMAIL, f"/admin/competencies/override/{override.pk}/change/"),
        (AGENT_EMAIL, f"/admin/competencies/override/{override.pk}/revoke/"),
        (AGENT_EMAIL, "/admin/competencies/statuschange/"),
        (AGENT_EMAIL, "/admin/competencies/organization/"),
    ]


def render(client, who, url, language):
    client.logout()
    if who is not None:
        assert client.login(username=who, password=DEMO_PASSWORD)
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=BROWSERS[language])
    assert response.status_code == (404 if url == "/no-such-page/" else 200), url
    return response.content.decode()


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_every_page_renders_fully_translated_from_the_browsers_language(demo, client, language):
    patterns = english_messages(language)
    assert len(patterns) > 300  # the check looks for most of the product's messages
    for who, url in pages(client):
        html = render(client, who, url, language)
        assert f'<html lang="{language}"' in html, url
        assert untranslated(html, patterns) == [], url


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_the_pages_use_the_terms_of_microsofts_localized_pages(demo, client, language):
    terms = TERMS[language]
    dashboard = visible_text(render(client, AT_RISK_MEMBER, "/dashboard/", language))
    assert terms["at_risk"] in dashboard
    assert all(terms[t] in dashboard for t in ("competency", "membership", "benefits", "silver")), dashboard
    contoso = visible_text(render(client, GOLD_MEMBER, "/dashboard/membership/competencies/", language))
    assert terms["gold"] in contoso and terms["path"] in contoso
    detail = visible_text(render(client, OVERRIDE_MEMBER, "/dashboard/membership/competencies/data-platform/", language))
    assert terms["override"] in detail and terms["gold"] in detail
    admin = visible_text(render(client, AGENT_EMAIL, "/admin/competencies/", language))
    assert terms["override"] in admin and "卓越中心" in admin
    add = visible_text(render(client, AGENT_EMAIL, "/admin/competencies/attainmentoption/", language))
    assert terms["path"] in add


def test_dates_numbers_and_money_are_formatted_for_the_language(demo, client):
    chinese = visible_text(render(client, GOLD_MEMBER, "/dashboard/membership/", "zh-hans"))
    assert "1,670 美元" in chinese and "4,730 美元" in chinese  # the fees, grouped by thousands as CLDR does
    assert "2026年7月26日" in chinese  # the term's start: 120 days before the demo's day
    client.logout()
    assert client.login(username=GOLD_MEMBER, password=DEMO_PASSWORD)
    page = visible_text(client.get("/dashboard/membership/", HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "USD 1,670" in page and "USD 4,730" in page and "July 26, 2026" in page
    detail = visible_text(client.get("/dashboard/membership/competencies/cloud-platform/",
                                     HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode())
    assert "100,000 美元" in detail  # the Gold consumption threshold, in the engine's words


def test_the_history_and_the_at_risk_banner_say_the_cause_in_the_readers_language(demo, client):
    page = visible_text(render(client, AT_RISK_MEMBER, "/dashboard/membership/competencies/cloud-platform/", "zh-hant"))
    assert "Jane Doe 於 2026年11月20日 關聯至另一個組織" in page
    banner = visible_text(render(client, AT_RISK_MEMBER, "/dashboard/", "zh-hans"))
    assert "原因：Jane Doe 于 2026年11月20日 关联到另一个组织。" in banner


# --- choosing the language -------------------------------------------------------------------------


def test_it_speaks_english_to_a_browser_that_asks_for_nothing_else(client, db):
    for accept in ("", "en-US,en;q=0.9", "fr-FR,fr;q=0.9"):
        html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=accept).content.decode()
        assert '<html lang="en"' in html and "Sign in to Partner Center" in html, accept


@pytest.mark.parametrize(("accept", "language", "title"), [
    ("zh-CN", "zh-hans", "登录合作伙伴中心"), ("zh-SG", "zh-hans", "登录合作伙伴中心"),
    ("zh-TW", "zh-hant", "登入合作夥伴中心"), ("zh-HK", "zh-hant", "登入合作夥伴中心"),
    ("zh-Hant-TW,en;q=0.5", "zh-hant", "登入合作夥伴中心"),
])
def test_it_follows_the_browsers_chinese(client, db, accept, language, title):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=accept)
    assert f'<html lang="{language}"' in response.content.decode() and title in response.content.decode()
    assert response["Content-Language"] == language


def test_the_switcher_shows_on_every_page_and_a_signed_out_choice_lives_in_a_cookie(demo, client):
    for who, url in pages(client)[:18]:  # the product's own pages (admin has its own switcher, below)
        assert 'action="/i18n/setlang/"' in render(client, who, url, "zh-hans"), url
    assert 'class="admin-language-switcher"' in render(client, AGENT_EMAIL, "/admin/", "zh-hans")
    client.logout()
    response = client.post("/i18n/setlang/", {"language": "zh-hant", "next": "/partners/"})
    assert response.status_code == 302 and response["Location"] == "/partners/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert '<html lang="zh-hant"' in client.get("/partners/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_switching_while_signed_in_saves_the_employees_preference(demo, client):
    assert client.login(username=AT_RISK_MEMBER, password=DEMO_PASSWORD)
    client.post("/i18n/setlang/", {"language": "zh-hant", "next": "/dashboard/"})
    assert Employee.objects.get(email=AT_RISK_MEMBER).language == "zh-hant"
    client.post("/i18n/setlang/", {"language": "klingon", "next": "/dashboard/"})  # refused: nothing saved
    assert Employee.objects.get(email=AT_RISK_MEMBER).language == "zh-hant"
    # the saved preference wins over the browser and a stale cookie while signed in
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert '<html lang="zh-hant"' in client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_signing_in_applies_the_saved_preference(demo, client):
    Employee.objects.filter(email=GOLD_MEMBER).update(language="zh-hans")
    response = client.post("/accounts/login/", {"username": GOLD_MEMBER, "password": DEMO_PASSWORD},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"  # and after signing out
    assert '<html lang="zh-hans"' in client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.post("/accounts/logout/")
    assert '<html lang="zh-hans"' in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_signing_in_saves_no_preference_and_the_browser_keeps_deciding(demo, client):
    assert Employee.objects.get(email=OVERRIDE_MEMBER).language == ""
    response = client.post("/accounts/login/", {"username": OVERRIDE_MEMBER, "password": DEMO_PASSWORD},
                           HTTP_ACCEPT_LANGUAGE="en-US")
    assert response.status_code == 302 and settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert Employee.objects.get(email=OVERRIDE_MEMBER).language == ""  # an English browser once: nothing saved
    assert '<html lang="zh-hant"' in client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert '<html lang="en"' in client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_failed_sign_in_says_why_in_the_browsers_language(demo, client):
    response = client.post("/accounts/login/", {"username": GOLD_MEMBER, "password": "wrong"},
                           HTTP_ACCEPT_LANGUAGE="zh-CN")
    page = visible_text(response.content.decode())
    assert "请输入一个正确的电子邮件和密码。" in page  # Django's words, with our name for the login field
    assert Employee.objects.get(email=GOLD_MEMBER).language == ""  # nothing saved for a failed sign-in
