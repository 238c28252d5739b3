"""One person, one account, whatever the letters (docs/design.md, "Identity").

An email's canonical form (competencies/identity.py) is what is stored,
held unique by the database, and compared at every door: sign-in and its
lockout counter, the importer, Django admin, invitations, `create_user`.
Two spellings that fold to one form are one person; sign-in answers no
input with a 500.
"""

import datetime
import json
import unicodedata

import pytest
import time_machine
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from competencies import identity
from competencies.activity import import_activity
from competencies.identity import InvalidEmail, canonical_email, email_key, is_canonical
from competencies.invitations import invitation_send
from competencies.models import Employee, Invitation
from competencies.selectors import invitations_received
from competencies.signin import signin_username

from .common import PASSWORD, sign_in
from .factories import EmployeeFactory

LOGIN = reverse("login")
NOW = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
TODAY = NOW.date()
OLIVIA = "olivia.wong@northwind.example"
# A domain with a letter outside ASCII: stored IDNA-encoded (xn--mller-kva), its ü typed composed or not.
MARTA = "marta@müller.example"
MARTA_STORED = "marta@xn--mller-kva.example"

FULLWIDTH = {chr(c): chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F)}  # '!'..'~' -> U+FF01..U+FF5E


def fullwidth(text: str) -> str:
    return "".join(FULLWIDTH.get(c, c) for c in text)


def variants(email: str) -> list[str]:
    """Spellings of `email` a person or an attacker may type: each is the same account."""
    local, domain = email.split("@")
    found = [
        email.upper(),
        email.title(),
        f"  {email}\t",
        "\u3000" + email,  # an ideographic space
        email.replace("i", "ı"),  # the dotless ı (U+0131), which PostgreSQL's UPPER() folds to I
        email.replace("i", "İ"),  # the dotted capital İ (U+0130)
        email.upper().replace("I", "İ"),
        fullwidth(local) + "@" + domain,
        fullwidth(email),  # the @ and the dot too
        unicodedata.normalize("NFD", email),  # combining marks: ü as u + U+0308
        unicodedata.normalize("NFD", email.upper()),
    ]
    if not domain.isascii():
        found.append(f"{local}@{domain.encode('idna').decode()}")
    return [v for v in dict.fromkeys(found) if v != email]


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def signed_in_as(client):
    return client.session.get("_auth_user_id")


# ---------------------------------------------------------------------------
# The rule


@pytest.mark.parametrize("email", [OLIVIA, MARTA])
def test_every_spelling_of_an_email_has_one_canonical_form(email):
    canonical = canonical_email(email)
    assert canonical == (MARTA_STORED if email == MARTA else OLIVIA)
    for variant in variants(email):
        assert canonical_email(variant) == canonical, variant
        assert email_key(variant) == canonical, variant


@pytest.mark.parametrize("text", ["", "   ", "olivia", "olivia@", "@northwind.example", "olivia@northwind",
                                  "oli via@northwind.example", "olivia\x00@northwind.example",
                                  "oli\nvia@northwind.example", "josé@northwind.example",
                                  "olivia@" + "x" * 64 + ".example", "o" * 250 + "@northwind.example",
                                  "o" * 100_000, None, 42, ["olivia@northwind.example"]])
def test_text_that_is_no_email_has_no_canonical_form_and_says_why(text):
    with pytest.raises(InvalidEmail) as refused:
        canonical_email(text)
    assert str(refused.value)
    key = email_key(text)
    assert isinstance(key, str) and len(key) <= 255 and "\x00" not in key


@given(st.text(max_size=80))
def test_the_canonical_form_is_ascii_lower_case_and_stable(text):
    try:
        canonical = canonical_email(text)
    except InvalidEmail:
        return
    assert canonical.isascii() and canonical == canonical.lower() and len(canonical) <= 254
    assert canonical_email(canonical) == canonical and is_canonical(canonical)


@given(st.from_regex(identity._PLAIN, fullmatch=True))
def test_an_address_already_canonical_passes_every_step_unchanged(email):
    # The importer's shortcut: what it returns as is, the whole rule would also return as is.
    if len(email) > identity.MAX_LENGTH:
        return
    local, domain = email.rsplit("@", 1)
    assert identity._fold(email) == email and identity._domain(domain) == domain
    validate_email(email)
    assert canonical_email(email) == email and is_canonical(email)


@given(st.text(max_size=300))
def test_the_lockout_key_of_any_text_is_a_string_a_database_stores(text):
    key = email_key(text)
    assert len(key) <= 255 and "\x00" not in key and not any(0xD800 <= ord(c) <= 0xDFFF for c in key)
    assert email_key(key) == key or not is_canonical(key)


# ---------------------------------------------------------------------------
# Sign-in and its lockout


@pytest.fixture
def olivia(db):
    return EmployeeFactory(email=OLIVIA, name="Olivia Wong")


@pytest.fixture
def marta(db):
    return EmployeeFactory(email=MARTA_STORED, name="Marta Müller")


def test_any_spelling_signs_in_to_the_one_account(client, olivia, marta):
    for person, email in ((olivia, OLIVIA), (marta, MARTA)):
        for variant in variants(email):
            client.logout()
            response = sign_in(client, variant, PASSWORD)
            assert response.status_code == 302 and signed_in_as(client) == str(person.pk), variant


@pytest.mark.parametrize("email", [OLIVIA, MARTA])
def test_once_locked_every_spelling_stays_locked(client, olivia, marta, email, now):
    for _ in range(5):
        sign_in(client, email, "not the password")
    for variant in variants(email):
        response = sign_in(client, variant, PASSWORD)
        assert response.status_code == 429 and not signed_in_as(client), variant
    # No variant's right password cleared the lock: the plain spelling is still refused until the 15 minutes pass.
    assert sign_in(client, email, PASSWORD).status_code == 429
    now.shift(datetime.timedelta(minutes=16))
    assert sign_in(client, email, PASSWORD).status_code == 302


def test_failures_under_different_spellings_share_one_counter(client, olivia):
    for variant in variants(OLIVIA)[:5]:
        assert sign_in(client, variant, "not the password").status_code in (200, 429)
    assert sign_in(client, OLIVIA, PASSWORD).status_code == 429
    assert not signed_in_as(client)


def test_the_lockout_counts_every_spelling_under_the_stored_email(rf):
    for variant in variants(OLIVIA):
        assert signin_username(rf.post(LOGIN, {"username": variant})) == OLIVIA


PRINTABLE = st.characters(exclude_categories=("Cs",))


@given(username=st.text(PRINTABLE, max_size=300) | st.sampled_from(
    ["\x00", "olivia.wong@northwind.example\x00", "o" * 5000, "ｏｌｉｖｉａ＠", "İ" * 300, "\ufdfa" * 100]))
def test_sign_in_never_answers_500_whatever_is_typed(client, olivia, username):
    response = sign_in(client, username, "not the password")
    assert response.status_code in (200, 400, 429)
    assert not signed_in_as(client)


# ---------------------------------------------------------------------------
# The other doors: the importer, admin, invitations, create_user, the database


def test_importing_another_spelling_updates_the_person_and_never_makes_a_second_account(client, db):
    liam = EmployeeFactory(email="liam.patel@contoso.example", name="Liam")
    lines = [json.dumps({"type": "employee", "email": spelling, "name": "Liam Patel"})
             for spelling in ["lıam.patel@contoso.example", "LİAM.PATEL@contoso.example", "ｌｉａｍ.patel@contoso.example"]]
    import_activity(lines=lines)
    assert list(Employee.objects.filter(name__startswith="Liam").values_list("pk", "email")) == [
        (liam.pk, "liam.patel@contoso.example")]
    assert sign_in(client, "liam.patel@contoso.example", PASSWORD).status_code == 302


def test_an_imported_account_is_stored_canonical(db):
    import_activity(lines=[json.dumps({"type": "employee", "email": " Marta@MÜLLER.example "})])
    assert Employee.objects.filter(email=MARTA_STORED).exists()


@pytest.fixture
def superuser_client(client, db):
    client.force_login(EmployeeFactory(email="root@partnercenter.example", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("spelling", ["lıam.patel@contoso.example", "LİAM.Patel@Contoso.example"])
def test_admin_refuses_another_spelling_of_an_existing_email(superuser_client, spelling):
    EmployeeFactory(email="liam.patel@contoso.example")
    response = superuser_client.post(reverse("admin:competencies_employee_add"), {
        "email": spelling, "name": "Impostor", "password1": "a long enough passphrase 42",
        "password2": "a long enough passphrase 42", "usable_password": "true"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == ["An employee with this email already exists."]
    assert Employee.objects.filter(name="Impostor").count() == 0


def test_admin_stores_a_new_email_canonical(superuser_client):
    response = superuser_client.post(reverse("admin:competencies_employee_add"), {
        "email": " Marta@MÜLLER.example", "name": "Marta", "password1": "a long enough passphrase 42",
        "password2": "a long enough passphrase 42", "usable_password": "true"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Employee.objects.get(name="Marta").email == MARTA_STORED


def test_an_invitation_to_any_spelling_reaches_the_one_person(org, admin, db):
    liam = EmployeeFactory(email="liam.patel@contoso.example")
    first = invitation_send(organization=org, email="lıam.patel@contoso.example", invited_by=admin, day=TODAY)
    again = invitation_send(organization=org, email="ＬＩＡＭ.PATEL@contoso.example", invited_by=admin, day=TODAY)
    assert first.pk == again.pk and first.email == "liam.patel@contoso.example"
    assert [i.pk for i in invitations_received(liam, day=TODAY)] == [first.pk]
    assert Invitation.objects.count() == 1


def test_create_user_stores_the_canonical_form(db):
    assert Employee.objects.create_user("ＯＬＩＶＩＡ.Wong@NorthWind.example ", "pw").email == OLIVIA
    with pytest.raises(InvalidEmail):
        Employee.objects.create_user("not an email", "pw")


def test_the_database_refuses_an_email_that_is_not_canonical(olivia):
    with pytest.raises(IntegrityError), transaction.atomic():
        EmployeeFactory(email="Olivia.Wong@northwind.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        EmployeeFactory(email=OLIVIA)


# ---------------------------------------------------------------------------
# The migration: existing accounts that collide under the canonical form stop it, with a report; nothing merged

BEFORE = [("competencies", "0006_cause_params")]
AFTER = [("competencies", "0007_canonical_email")]


def migrate(executor, targets):
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_stops_with_a_report_when_two_accounts_would_be_one_and_merges_nothing():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    old = migrate(executor, BEFORE)
    OldEmployee, OldInvitation, OldOrganization = (
        old.get_model("competencies", name) for name in ("Employee", "Invitation", "Organization"))
    try:
        liam = OldEmployee.objects.create(email="liam.patel@contoso.example", name="Liam")
        twin = OldEmployee.objects.create(email="lıam.patel@contoso.example", name="Imported twin")
        ana = OldEmployee.objects.create(email="Ana@Contoso.example", name="Ana")
        org = OldOrganization.objects.create(mpn_id="1000001", name="Fabrikam")
        OldInvitation.objects.create(organization=org, email="Jane@Northwind.example", created_on=TODAY,
                                     expires_on=TODAY + datetime.timedelta(days=30))
        with pytest.raises(Exception) as stopped:
            migrate(MigrationExecutor(connection), AFTER)
        report = str(stopped.value)
        assert type(stopped.value).__name__ == "CanonicalEmailConflict"
        assert "liam.patel@contoso.example" in report and f"employee {liam.pk} " in report
        assert f"employee {twin.pk} " in report and "lıam.patel@contoso.example" in report
        assert "Ana" not in report  # a case difference alone is no conflict: it is rewritten
        # Nothing changed, nothing merged: both accounts as they were.
        assert set(OldEmployee.objects.values_list("email", flat=True)) == {
            "liam.patel@contoso.example", "lıam.patel@contoso.example", "Ana@Contoso.example"}

        twin.email = "liam.patel.imported@contoso.example"  # what a human decides
        twin.save()
        new = migrate(MigrationExecutor(connection), AFTER)
        Employee_ = new.get_model("competencies", "Employee")
        assert Employee_.objects.get(pk=ana.pk).email == "ana@contoso.example"
        assert Employee_.objects.get(pk=liam.pk).email == "liam.patel@contoso.example"
        assert new.get_model("competencies", "Invitation").objects.get().email == "jane@northwind.example"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_people_page_invites_any_spelling_of_an_address_as_its_one_person(client, org, admin):
    liam = EmployeeFactory(email="liam.patel@contoso.example")
    client.force_login(admin)
    for spelling in ("ＬＩＡＭ.PATEL@contoso.example", "lıam.patel@contoso.example"):
        response = client.post(reverse("dashboard:people"), {"organization": org.mpn_id, "email": spelling})
        assert response.status_code == 302, response.content.decode()[:500]
    assert list(Invitation.objects.values_list("email", flat=True)) == [liam.email]
