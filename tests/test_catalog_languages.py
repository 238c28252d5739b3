"""Catalog content in three languages: a name (and description) per language, falling back to English."""

import pytest
from django.utils import translation

from competencies.catalog import DEFAULT_CATALOG_PATH, load_catalog, load_catalog_file, parse_catalog
from competencies.catalog_checks import CatalogError
from competencies.catalog_file import read_catalog_file
from competencies.localized import localized
from competencies.models import AttainmentOption, CenterOfExcellence, Competency, Credential, Metric
from memberships.models import Benefit

from .test_load_catalog import CLOUD, CLOUD_SILVER, cloud, small

HANS_HANT = {"zh-hans": "云平台", "zh-hant": "雲端平台"}


def translated(doc: dict) -> dict:
    doc["centers"][0]["name"] = {"en": "Cloud platform", **HANS_HANT}
    doc["centers"][0]["description"] = {"en": "Azure.", "zh-hans": "Azure。"}
    cloud(doc)["name"] = {"en": "Cloud Platform", "zh-hans": "云平台能力", "zh-hant": "雲端平台專長"}
    cloud(doc)["levels"]["silver"]["options"][0]["name"] = {"en": "People", "zh-hans": "人员", "zh-hant": "人員"}
    doc["credentials"][0]["title"] = {"en": "Implementing Azure", "zh-hans": "实现 Azure"}
    doc["metrics"][0]["name"] = {"en": "Azure consumption", "zh-hans": "Azure 使用量", "zh-hant": "Azure 使用量"}
    doc["benefits"][0]["name"] = {"en": "Credits", "zh-hans": "额度", "zh-hant": "額度"}
    return doc


@pytest.mark.django_db
def test_it_stores_each_language_and_reads_the_active_one_falling_back_to_english():
    load_catalog(data=translated(small()), source="test")
    center = CenterOfExcellence.objects.get(slug="cloud")
    assert (center.name, center.names) == ("Cloud platform", HANS_HANT)
    competency = Competency.objects.get(slug="cloud-platform")
    option = AttainmentOption.objects.get(competency=competency, level="silver", position=0)
    credential = Credential.objects.get(code="70-533")
    with translation.override("zh-hant"):
        assert (center.localized_name, competency.localized_name, option.localized_name) == ("雲端平台", "雲端平台專長", "人員")
        assert credential.localized_name == "Implementing Azure"  # no zh-hant title: English
        assert center.localized_description == "Azure."
        assert Benefit.objects.get(names__has_key="zh-hant").localized_name == "額度"
    with translation.override("zh-hans"):
        assert (credential.localized_name, center.localized_description) == ("实现 Azure", "Azure。")
        assert Metric.objects.get().localized_name == "Azure 使用量"
    assert competency.localized_name == "Cloud Platform"  # English


@pytest.mark.django_db
def test_loading_the_same_translated_file_twice_writes_nothing_and_a_new_word_updates():
    load_catalog(data=translated(small()), source="test")
    counts = load_catalog(data=translated(small()), source="test")
    assert counts["centers"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert counts["options"]["updated"] == 0
    doc = translated(small())
    cloud(doc)["levels"]["silver"]["options"][0]["name"]["zh-hant"] = "認證人員"
    assert load_catalog(data=doc, source="test")["options"]["updated"] == 1
    option = AttainmentOption.objects.get(competency__slug="cloud-platform", level="silver", position=0)
    assert option.names["zh-hant"] == "認證人員"


@pytest.mark.django_db
def test_an_unknown_language_a_missing_english_or_an_empty_name_is_refused_with_its_path():
    doc = small()
    doc["centers"][0]["name"] = {"en": "Cloud platform", "fr": "Plateforme cloud"}
    cloud(doc)["name"] = {"zh-hans": "云平台"}
    cloud(doc)["levels"]["silver"]["options"][0]["name"] = {"en": "People", "zh-hant": "  "}
    doc["credentials"][0]["title"] = {"en": "Implementing", "zh-hans": 7}
    with pytest.raises(CatalogError) as refused:
        load_catalog(data=doc, source="bad.yaml")
    problems = dict(refused.value.problems)
    assert problems == {
        "centers[0].name.fr": "unknown language 'fr' (expected en, zh-hans, zh-hant)",
        f"{CLOUD}.name.en": "is required (the English text, which other languages fall back to)",
        f"{CLOUD_SILVER}[0].name.zh-hant": "must not be empty",
        "credentials[0].title.zh-hans": "must be text, not 7 (quote it)",
    }
    assert not CenterOfExcellence.objects.exists()  # refused whole


def test_the_plain_form_stays_valid():
    assert parse_catalog(small()).centers[0].names == {}


def test_it_falls_back_from_a_regional_code_and_to_english():
    assert localized("Gold", {"zh-hans": "金牌"}, "zh-hans") == "金牌"
    assert localized("Gold", {"zh": "金"}, "zh-hant") == "金"
    assert localized("Gold", {}, "zh-hant") == "Gold"
    assert localized("Gold", {"zh-hans": ""}, "zh-hans") == "Gold"


def every_named_entry(doc: dict):
    for section, key in (("credentials", "title"), ("metrics", "name"), ("benefits", "name")):
        for i, entry in enumerate(doc[section]):
            yield f"{section}[{i}]", entry[key]
    for i, center in enumerate(doc["centers"]):
        yield f"centers[{i}]", center["name"]
        yield f"centers[{i}].description", center["description"]
        for j, competency in enumerate(center["competencies"]):
            yield f"centers[{i}].competencies[{j}]", competency["name"]
            for level, body in competency["levels"].items():
                for k, option in enumerate(body["options"]):
                    yield f"centers[{i}].competencies[{j}].{level}[{k}]", option["name"]


def test_the_bundled_catalog_names_everything_in_both_chinese_scripts():
    doc = read_catalog_file(DEFAULT_CATALOG_PATH)
    missing = [path for path, name in every_named_entry(doc)
               if not isinstance(name, dict) or not name.get("zh-hans") or not name.get("zh-hant")]
    assert missing == []


@pytest.mark.django_db
def test_the_bundled_catalog_has_the_seventeen_competencies_of_2017_in_six_centers_with_microsofts_center_names():
    load_catalog_file(DEFAULT_CATALOG_PATH)
    assert CenterOfExcellence.objects.count() == 6
    assert Competency.objects.count() == 17
    centers = {c.name: (c.names["zh-hans"], c.names["zh-hant"]) for c in CenterOfExcellence.objects.all()}
    assert centers == {
        "Application development": ("应用程序开发", "應用程式開發"),
        "Cloud platform": ("云平台", "雲端平台"),
        "Data management": ("数据管理", "資料管理"),
        "Business applications": ("业务应用程序", "商業應用程式"),
        "Mobility": ("移动性", "行動力"),
        "Productivity": ("生产力", "生產力"),
    }
    for competency in Competency.objects.prefetch_related("options"):
        assert competency.options.exists(), competency.slug
