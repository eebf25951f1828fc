"""Importing from the admin: upload, a check that writes nothing, confirm, result, report."""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.models import Transfer
from members.ean import ean13_from_serial
from members.models import Card, CardImport, Member

pytestmark = pytest.mark.django_db

LEGACY = (
    "Номер карты;Телефон;ФИО;Баланс\r\n"
    f"{ean13_from_serial('777', 1)};8 (913) 111-22-33;Иванов Иван;1 234\r\n"
    f"{ean13_from_serial('777', 2)};;Петрова;0\r\n"
    "7770000000099;;Ошибка;5\r\n"
).encode("cp1251")


@pytest.fixture
def staff(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(User.objects.create_superuser("bo", "bo@example.com", "pw-test-only"))
    return client


def upload(client, content=LEGACY, **fields):
    data = {"on_conflict": "skip", "encoding": "auto", "delimiter": "auto", "mapping": ""}
    data.update(fields)
    data["file"] = SimpleUploadedFile("legacy.csv", content, content_type="text/csv")
    return client.post(reverse("admin:members_cardimport_add"), data)


def test_upload_check_then_confirm(staff, operator, program, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(staff)
    job = CardImport.objects.get()
    assert response.url == reverse("admin:members_cardimport_change", args=[job.pk])
    assert job.status == CardImport.Status.CHECKED
    assert (job.check_summary["created"], job.check_summary["errors"]) == (2, 1)
    assert not Member.objects.exists()  # the check wrote nothing
    page = staff.get(response.url).content.decode()
    assert "3 rows read: 2 would be created" in page
    assert "Not a valid EAN-13" in page  # the first problems, before confirming
    assert "Import 2 cards" in page

    confirm = reverse("admin:members_cardimport_confirm", args=[job.pk])
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(confirm)
    job.refresh_from_db()
    assert job.status == CardImport.Status.DONE
    assert Member.objects.filter(source="import").count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(confirm)  # a second click imports nothing more
    assert Member.objects.filter(source="import").count() == 2

    report = staff.get(reverse("admin:members_cardimport_report", args=[job.pk]))
    assert b"Not a valid EAN-13" in b"".join(report.streaming_content)
    state = staff.get(reverse("admin:members_cardimport_progress", args=[job.pk])).json()
    assert state == {"status": "done", "rows": 3}


def test_an_unreadable_file_fails_with_its_reason(
    staff, operator, program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        no_card_column = "Имя;Телефон\r\nОльга;+79131112233\r\n"  # noqa: RUF001
        upload(staff, content=no_card_column.encode("cp1251"))
    job = CardImport.objects.get()
    assert job.status == CardImport.Status.FAILED
    assert "No card number column" in job.error
    page = staff.get(reverse("admin:members_cardimport_change", args=[job.pk])).content.decode()
    assert "No card number column" in page
    assert "import-confirm" not in page


def test_a_mapping_that_names_no_field_is_refused(staff, operator):
    response = upload(staff, mapping="Kartennummer=karte")
    assert "Write each line as Header=field" in response.content.decode()
    assert not CardImport.objects.exists()


def test_hand_mapping_from_the_form(staff, operator, program, django_capture_on_commit_callbacks):
    content = f"Kartennummer,Punkte\n{ean13_from_serial('777', 5)},12\n".encode()
    with django_capture_on_commit_callbacks(execute=True):
        upload(staff, content=content, mapping="Kartennummer=card_number\nPunkte=balance")
    assert CardImport.objects.get().check_summary["created"] == 1


def test_a_nul_byte_past_the_first_64_kb_is_a_row_error_not_a_server_error(
    staff, operator, program, django_capture_on_commit_callbacks
):
    rows = "".join(f"{ean13_from_serial('777', i)};Anna\r\n" for i in range(1, 5000))
    content = f"Номер карты;ФИО\r\n{rows}{ean13_from_serial('777', 9000)};Iv\0an\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        upload(staff, content=content.encode("cp1251"))
    job = CardImport.objects.get()
    assert job.status == CardImport.Status.CHECKED
    assert (job.check_summary["created"], job.check_summary["errors"]) == (4999, 1)
    page = staff.get(reverse("admin:members_cardimport_change", args=[job.pk])).content.decode()
    assert "The cell holds a character that is not text: U+0000." in page


def test_an_unexpected_error_fails_the_job_with_a_generic_message_and_logs_it(
    staff, operator, program, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from members.imports import jobs

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(jobs, "cards_import", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(staff)
    job = CardImport.objects.get()
    assert response.status_code == 302
    assert job.status == CardImport.Status.FAILED
    assert job.error.startswith("An unexpected error stopped this run and nothing was imported")
    assert "disk" not in job.error  # the details are for the log, not the page
    [record] = [r for r in caplog.records if r.name == "members.imports.jobs"]
    assert record.exc_info[1].args == ("the disk went away",)
    state = staff.get(reverse("admin:members_cardimport_progress", args=[job.pk])).json()
    assert state["status"] == "failed"


def test_an_import_that_breaks_midway_fails_and_leaves_nothing(
    staff, operator, program, django_capture_on_commit_callbacks, monkeypatch
):
    from members.imports import inserting, runner

    rows = "".join(f"{ean13_from_serial('777', i)};5\r\n" for i in range(1, 40))
    with django_capture_on_commit_callbacks(execute=True):
        upload(staff, content=f"Номер карты;Баланс\r\n{rows}".encode("cp1251"))
    job = CardImport.objects.get()
    assert job.status == CardImport.Status.CHECKED
    monkeypatch.setattr(runner, "CHUNK_ROWS", 10)
    insert = inserting.Inserter.chunk_insert

    def third_chunk_fails(self, chunk):
        if chunk.first_row > 20:
            raise RuntimeError("the server closed the connection")
        insert(self, chunk)

    monkeypatch.setattr(inserting.Inserter, "chunk_insert", third_chunk_fails)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("admin:members_cardimport_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == CardImport.Status.FAILED
    assert "nothing was imported" in job.error
    assert not Member.objects.exists()  # the first two chunks were rolled back
    assert not Card.objects.exists()
    assert not Transfer.objects.exists()


def test_an_error_after_the_import_committed_says_the_cards_were_imported(
    staff, operator, program, django_capture_on_commit_callbacks, monkeypatch
):
    from members.imports import jobs

    with django_capture_on_commit_callbacks(execute=True):
        upload(staff)
    job = CardImport.objects.get()
    monkeypatch.setattr(jobs, "_report_keep", lambda *args: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("admin:members_cardimport_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == CardImport.Status.DONE
    assert job.error.startswith("The cards were imported, but the result could not be recorded")
    assert Member.objects.filter(source="import").count() == 2
