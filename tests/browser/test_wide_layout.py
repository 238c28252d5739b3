"""Every page at 1280 px in Simplified and Traditional Chinese: no table header wraps one character per line, and
no English catalog word shows (Latin words only in codes, numbers and proper names). Screenshots land in
test-artifacts/wide-<language>-<page>.png.

Named to run after the other browser flows: a transactional test empties the database afterwards, the
groups the migrations made included."""

import re

import pytest
import time_machine

from competencies.models import AttainmentOption, CenterOfExcellence, Competency, Credential, Metric, Organization
from memberships.models import Benefit

from .conftest import screenshot
from .test_phone_layout import LOCALES, NOW, PAGES, PASSWORD
from .test_phone_layout import demo as demo  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1280, "height": 900}
PAGES_WIDE = [*PAGES, ("center", "/dashboard/membership/centers/productivity/")]
# Product names and their parts that Microsoft's Chinese pages keep in Latin letters.
PROPER = {"Azure", "Office", "Microsoft", "Windows", "Dynamics", "CRM", "ERP", "Online", "SQL", "Server", "Exchange",
          "SharePoint", "Skype", "for", "Business", "Power", "BI", "Visual", "Studio", "Enterprise", "Project", "DevOps",
          "MCSD", "MCSE", "MCSA", "Web", "Contoso", "Fabrikam", "Northwind", "Traders", "Tailspin", "Toys", "Digital",
          "Cloud", "Consulting", "IT", "USD", "MPN", "ID", "Action", "Pack", "Finance", "Operations", "Transact",
          "Professional", "Standard", "Pro", "OneDrive", "Team", "Services", "Foundation", "Machine", "Learning"}


def english_catalog_words() -> set[str]:
    """Words of the English catalog names that the Chinese names replace (the proper names aside)."""
    texts = [*CenterOfExcellence.objects.values_list("name", flat=True), *Competency.objects.values_list("name", flat=True),
             *AttainmentOption.objects.values_list("name", flat=True), *Metric.objects.values_list("name", flat=True),
             *Credential.objects.values_list("title", flat=True), *Benefit.objects.values_list("name", flat=True)]
    words = {w for text in texts for w in re.findall(r"[A-Za-z]{3,}", text)}
    # A word the Chinese names keep too ("HTML5、JavaScript 和 CSS3") is a technology's name, not English.
    kept = {w for model in (CenterOfExcellence, Competency, AttainmentOption, Metric, Credential, Benefit)
            for names in model.objects.values_list("names", flat=True) for text in (names or {}).values()
            for w in re.findall(r"[A-Za-z]{3,}", text)}
    return {w for w in words if w not in PROPER and w not in kept}


def english_catalog_names() -> set[str]:
    """The catalog's English names whose Chinese differs (a name kept in Latin letters, "DevOps", is left out)."""
    names = set()
    for model, field in ((CenterOfExcellence, "name"), (Competency, "name"), (AttainmentOption, "name"),
                         (Metric, "name"), (Credential, "title"), (Benefit, "name")):
        for english, translations in model.objects.values_list(field, "names"):
            texts = (translations or {}).values()
            if texts and not any(english in text for text in texts):  # "ERP" stays inside "企业资源规划 (ERP)"
                names.add(english)
    return names


def header_wraps_per_character(page) -> list[str]:
    """Headers of a table cell that a line holds one character of: taller than two lines and narrower than 2 em."""
    return page.evaluate("""() => [...document.querySelectorAll('main th')].filter(th => {
        const style = getComputedStyle(th); const em = parseFloat(style.fontSize);
        const lines = th.getBoundingClientRect().height / (parseFloat(style.lineHeight) || em * 1.5);
        return th.innerText.trim().length > 1 && lines > 2.2;
    }).map(th => th.innerText.trim())""")


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_every_page_at_1280_keeps_headers_whole_and_shows_no_english_catalog_word(
    browser, live_server, demo, language  # noqa: F811 - the fixture imported above
):
    # An organization's own words (its description) stay in the language it wrote them in.
    own = {w for text in Organization.objects.values_list("description", flat=True) for w in re.findall(r"[A-Za-z]+", text)}
    english = english_catalog_words() - own
    phrases = english_catalog_names()
    context = browser.new_context(viewport=WIDE, locale=LOCALES[language])
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "ava.chen@contoso.example")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")
        wrapped, latin = {}, {}
        for name, path in PAGES_WIDE:
            page.goto(live_server.url + path)
            assert page.locator("html").get_attribute("lang") == language
            screenshot(page, f"wide-{language}-{name}")
            if found := header_wraps_per_character(page):
                wrapped[name] = found
            text = page.locator("main").inner_text()
            found = {w for w in re.findall(r"[A-Za-z]{3,}", text) if w in english}
            found |= {phrase for phrase in phrases if phrase in text}
            if found:
                latin[name] = sorted(found)
        assert wrapped == {}
        assert latin == {}
    context.close()
