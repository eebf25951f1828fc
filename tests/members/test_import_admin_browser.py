"""The admin import in Chromium: upload a cp1251 export, read the check, confirm, see the result."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from loyalty.program import program_settings_update
from members.ean import ean13_from_serial
from members.models import Member
from tests.factories import PartnerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_check_and_confirm_in_the_browser(live_server, page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    PartnerFactory(code="main")
    program_settings_update(pending_days=14)
    User.objects.create_superuser("bo", "bo@example.com", "import-pass-2026")
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(
        (
            "Номер карты;Телефон;ФИО;Баланс\r\n"
            f"{ean13_from_serial('777', 1)};8 (913) 111-22-33;Иванов Иван;1 234\r\n"
            "7770000000099;;Петрова;5\r\n"
        ).encode("cp1251")
    )

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "bo")
    page.fill("input[name=password]", "import-pass-2026")
    page.press("input[name=password]", "Enter")
    page.goto(f"{live_server.url}/admin/members/cardimport/add/")
    page.set_input_files("input[name=file]", str(legacy))
    page.get_by_role("button", name="Upload and check").click()

    expect(page.get_by_test_id("import-status")).to_have_text("Checked: waiting for confirmation")
    expect(page.get_by_test_id("summary-lines")).to_contain_text("1 would be created")
    expect(page.get_by_text("Not a valid EAN-13 card number")).to_be_visible()
    assert not Member.objects.exists()

    page.get_by_test_id("import-confirm").click()
    expect(page.get_by_test_id("import-status")).to_have_text("Imported")
    expect(page.get_by_text("1 created, 0 updated, 0 skipped, 1 with errors.")).to_be_visible()
    assert Member.objects.get().full_name == "Иванов Иван"
