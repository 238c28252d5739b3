"""An organization's admin adds people (one, or a CSV file, all or nothing); employees link their MCP ID."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from competencies import accounts
from competencies.models import Association, Employee, Invitation
from memberships.models import OutboundEmail

from .common import TODAY
from .factories import EmployeeFactory

URL = "/dashboard/people/add/"


pytestmark = pytest.mark.usefixtures("empty_cache", "frozen")


@pytest.fixture
def signed_in(client, admin):
    client.force_login(admin)
    return client


def add_one(client, org, name="Carol New", email="Carol@Fabrikam.example", language="zh-hans"):
    return client.post(URL, {"organization": org.mpn_id, "action": "one", "name": name, "email": email,
                             "language": language})


def upload(client, org, content: bytes, language="en"):
    return client.post(URL, {"organization": org.mpn_id, "action": "preview", "language": language,
                             "file": SimpleUploadedFile("people.csv", content, content_type="text/csv")})


def nothing_written(before_employees: int):
    return Employee.objects.count() == before_employees and not OutboundEmail.objects.exists()


def test_it_creates_an_account_counting_for_the_organization_and_emails_a_password_link_in_its_language(
    signed_in, org, client
):
    response = add_one(signed_in, org)
    assert response.status_code == 302
    carol = Employee.objects.get(email="carol@fabrikam.example")
    assert carol.name == "Carol New" and carol.language == "zh-hans" and not carol.has_usable_password()
    assert Association.objects.filter(employee=carol, organization=org, starts_on=TODAY, ends_on=None).exists()
    email = OutboundEmail.objects.get(to_email="carol@fabrikam.example")
    assert email.language == "zh-hans" and "Fabrikam" in email.subject and "合作伙伴中心" in email.subject
    assert "Alice Admin" in email.body_text and "请设置您的密码" in email.body_text  # Simplified Chinese words
    link = re.search(r"/accounts/password/[^/\s]+/[^/\s]+/", email.body_text).group(0)

    client.logout()
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    password = {"new_password1": "a-Long-pass-2026", "new_password2": "a-Long-pass-2026"}
    done = client.post(form_page.redirect_chain[-1][0], password)
    assert done.status_code == 302 and done.url == reverse("password-set-done")
    carol.refresh_from_db()
    assert carol.check_password("a-Long-pass-2026")
    again = client.get(link, follow=True)
    assert not again.context["validlink"]  # the link works once


def test_it_invites_an_existing_account_instead_of_creating_one(signed_in, org, outsider):
    before = Employee.objects.count()
    response = add_one(signed_in, org, name="Olga", email=" OLGA@northwind.example ")
    assert response.status_code == 302
    assert Employee.objects.count() == before
    assert Invitation.objects.filter(organization=org, email="olga@northwind.example", state="pending").exists()
    assert not Association.objects.filter(employee=outsider, organization=org).exists()


def test_it_refuses_someone_who_already_counts_and_a_bad_name_or_email(signed_in, org, teammate):
    before = Employee.objects.count()
    response = add_one(signed_in, org, name="Bob", email="bob@fabrikam.example")
    assert response.status_code == 400 and "already counts for Fabrikam" in response.content.decode()
    assert add_one(signed_in, org, name="", email="new@fabrikam.example").status_code == 400
    assert add_one(signed_in, org, name="X", email="not-an-email").status_code == 400
    assert nothing_written(before) and not Invitation.objects.exists()


def test_only_the_organization_s_admins_add_people(client, org, teammate, outsider, other_org):
    client.force_login(teammate)
    assert client.get(URL).status_code == 403
    assert add_one(client, org).status_code == 403
    client.force_login(outsider)  # an admin of another organization naming this one: not theirs
    assert add_one(client, org).status_code == 404
    assert not Employee.objects.filter(email="carol@fabrikam.example").exists()


def test_it_previews_a_file_writes_nothing_then_adds_everyone_on_confirmation(signed_in, org):
    before = Employee.objects.count()
    content = b"name,email\nCarol New,carol@fabrikam.example\n\n\"Lee, Dan\",DAN@fabrikam.example\n"
    preview = upload(signed_in, org, b"\xef\xbb\xbf" + content, language="zh-hant")
    assert preview.status_code == 200
    assert [p.email for p in preview.context["preview"]["people"]] == ["carol@fabrikam.example", "dan@fabrikam.example"]
    assert nothing_written(before)
    data = preview.context["preview"]["data"]
    done = signed_in.post(URL, {"organization": org.mpn_id, "action": "confirm", "language": "zh-hant", "data": data})
    assert done.status_code == 302
    dan = Employee.objects.get(email="dan@fabrikam.example")
    assert dan.name == "Lee, Dan" and dan.language == "zh-hant"
    added = ["carol@fabrikam.example", "dan@fabrikam.example"]
    assert Association.objects.filter(organization=org, employee__email__in=added).count() == 2
    assert OutboundEmail.objects.filter(language="zh-hant").count() == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"Carol,carol@fabrikam.example\nDan,CAROL@fabrikam.example\n", "2: carol@fabrikam.example is already on line 1"),
        (
            b"Carol,carol@fabrikam.example\nOlga,olga@northwind.example\n",
            "2: olga@northwind.example already has a Partner Center account",
        ),
        (b"Carol,carol@fabrikam.example\nDan\n", "2: expected 2 columns (name, email), found 1"),
        (b"Carol,carol@fabrikam.example\n,dan@fabrikam.example\n", "2: a name is required"),
        (b"Carol,carol@\n", "1: “carol@” is not a valid email address"),
        ("Zoë,zoe@fabrikam.example\n".encode("latin-1"), "The file is not UTF-8 text"),
        (b"\n\n", "The file names no one"),
        ("".join(f"P{n},p{n}@fabrikam.example\n" for n in range(10_000)).encode(), "The file is larger than 256 KB."),
        ("".join(f"P{n},p{n}@f.example\n" for n in range(1001)).encode(), "The file has more than 1000 people"),
    ],
)
def test_it_refuses_a_bad_file_whole_with_each_bad_line_named(signed_in, org, outsider, content, message):
    before = Employee.objects.count()
    response = upload(signed_in, org, content)
    assert response.status_code == 400
    assert message in " ".join(response.context["errors"])
    assert "Nothing was added." in response.content.decode()
    assert nothing_written(before)


def test_it_checks_the_file_again_on_confirmation(signed_in, org):
    preview = upload(signed_in, org, b"Carol,carol@fabrikam.example\nDan,dan@fabrikam.example\n")
    EmployeeFactory(email="dan@fabrikam.example")  # signed up elsewhere since the preview
    before = Employee.objects.count()
    done = signed_in.post(URL, {"organization": org.mpn_id, "action": "confirm", "language": "en",
                                "data": preview.context["preview"]["data"]})
    assert done.status_code == 400 and "2: dan@fabrikam.example already has" in " ".join(done.context["errors"])
    assert nothing_written(before)


def test_it_throttles_an_admin_who_adds_too_often(signed_in, org, monkeypatch):
    monkeypatch.setattr(accounts, "ADDS_PER_HOUR", 3)
    for n in range(3):
        assert add_one(signed_in, org, email=f"p{n}@fabrikam.example").status_code == 302
    response = add_one(signed_in, org, email="p9@fabrikam.example")
    assert response.status_code == 429 and "too many times" in response.content.decode()
    assert not Employee.objects.filter(email="p9@fabrikam.example").exists()


def test_an_employee_links_and_unlinks_their_mcp_id(client, teammate):
    client.force_login(teammate)
    url = reverse("dashboard:mcp-id")
    assert client.post(url, {"mcp_id": " 1234567 ", "organization": "2000002"}).status_code == 404  # not theirs
    assert client.post(url, {"mcp_id": " 1234567 ", "organization": "1000001"}).status_code == 302
    teammate.refresh_from_db()
    assert teammate.mcp_id == "1234567"
    assert "1234567" in client.get(reverse("dashboard:certifications")).content.decode()
    client.post(url, {"mcp_id": "", "organization": "1000001"})
    teammate.refresh_from_db()
    assert teammate.mcp_id == ""


@pytest.mark.parametrize("value, message", [("12ab", "up to 20 digits"), ("555", "linked to another account")])
def test_it_refuses_a_malformed_or_taken_mcp_id(client, teammate, value, message):
    EmployeeFactory(mcp_id="555")
    client.force_login(teammate)
    response = client.post(reverse("dashboard:mcp-id"), {"mcp_id": value, "organization": "1000001"}, follow=True)
    assert message in response.content.decode()
    teammate.refresh_from_db()
    assert teammate.mcp_id == ""
