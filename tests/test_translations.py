"""The message catalogs: every message of the source translated in both Chinese scripts, with the program's terms.

The completeness test extracts the messages afresh (Django's makemessages,
which needs GNU gettext's xgettext) from a copy of the source, merged with
the committed catalogs, so a message added to the code or a template and
not yet translated fails here, not on a Chinese reader's screen.
"""

import gettext
import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings

from partnercenter.translations import CATALOG_LANGUAGES, compile_catalogs, extract_messages

ROOT = Path(settings.BASE_DIR)
SOURCE = ["competencies", "memberships", "partnercenter", "api", "templates", "locale", "manage.py"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%")

# The terms of Microsoft's own localized pages (the issue), as msgid: (zh-Hans, zh-Hant).
TERMS = {
    "Competencies": ("能力", "專長認證"),
    "competency": ("能力", "專長認證"),
    "Silver": ("银牌", "銀級"),
    "Gold": ("金牌", "金級"),
    "Membership": ("成员身份", "會員資格"),
    "Benefits": ("权益", "權益"),
    "Centers of Excellence": ("卓越中心", "卓越中心"),
    "attainment option": ("成就途径", "達成路徑"),
    "achievement override": ("成就替代", "成就覆寫"),
}
AT_RISK = "A recent change to your competency achievement has put your membership renewal eligibility at risk."
AT_RISK_WORDS = (
    "你的能力成就的最新变化已使你的成员身份续订资格面临风险。",
    "您的專長認證成就最近的變更，已經對您的會員續約資格產生風險。",
)


def catalog(language: str, root: Path = ROOT) -> polib.POFile:
    return polib.pofile(str(root / "locale" / language / "LC_MESSAGES" / "django.po"))


def translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The catalogs after a fresh makemessages over a copy of the source (the committed ones are left alone)."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext is needed to extract the messages: apt-get install gettext (README, 'Prerequisites')")
    root = tmp_path_factory.mktemp("source")
    for name in SOURCE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(source, root / name)
    extract_messages(root)
    return {language: catalog(language, root) for language in CATALOG_LANGUAGES}


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_it_leaves_no_message_of_the_source_untranslated(extracted, language):
    po = extracted[language]
    assert len(po) > 400  # the extraction found the product's messages
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert untranslated == [], f"untranslated in {language}: run `make messages` and translate {untranslated}"
    assert fuzzy == [], f"fuzzy (changed in the source) in {language}: check and unmark {fuzzy}"


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_the_committed_catalog_is_the_extracted_one(extracted, language):
    """No message the source no longer has, none it has missing: `make messages` was run after the last change."""
    committed = {e.msgid for e in catalog(language) if not e.obsolete}
    assert committed == {e.msgid for e in extracted[language] if not e.obsolete}


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_every_translation_keeps_the_placeholders_of_its_message(language):
    """A translation that drops or renames `%(name)s` would break the page that formats it."""
    wrong = []
    for entry in catalog(language):
        wanted = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for text in translations(entry):
            if sorted(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((entry.msgid, text))
    assert wrong == []


@pytest.mark.parametrize(("index", "language"), list(enumerate(CATALOG_LANGUAGES)))
def test_the_catalogs_use_the_terms_of_microsofts_localized_pages(index, language):
    words = {entry.msgid: entry.msgstr for entry in catalog(language)}
    for msgid, terms in TERMS.items():
        assert words[msgid] == terms[index], msgid
    assert words[AT_RISK] == AT_RISK_WORDS[index]
    # the terms hold inside sentences too: no other word for competency, Silver or Gold creeps in
    other = {"zh_Hans": ["專長認證", "銀級", "金級", "会员资格"], "zh_Hant": ["能力", "银牌", "金牌", "銀牌", "成员身份"]}
    for entry in catalog(language):
        for text in translations(entry):
            assert not any(word in text for word in other[language]), (entry.msgid, text)


def test_it_compiles_the_catalogs_in_pure_python_leaving_out_fuzzy_entries(tmp_path):
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Plural-Forms": "nplurals=1; plural=0;"}
    po.append(polib.POEntry(msgid="Gold", msgstr="金牌"))
    po.append(polib.POEntry(msgid="Silver", msgstr="银牌", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="%(count)s partner.", msgid_plural="%(count)s partners.", msgstr_plural={0: "%(count)s 个合作伙伴。"}))
    target = tmp_path / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    po.save(str(target / "django.po"))

    assert compile_catalogs(tmp_path) == [target / "django.mo"]
    assert compile_catalogs(tmp_path) == []  # up to date: nothing written
    with open(target / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    assert compiled.gettext("Gold") == "金牌"
    assert compiled.gettext("Silver") == "Silver"  # fuzzy: left out, as msgfmt does
    assert compiled.ngettext("%(count)s partner.", "%(count)s partners.", 5) == "%(count)s 个合作伙伴。"
