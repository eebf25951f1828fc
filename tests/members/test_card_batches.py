"""Card batches: blank EAN-13 ranges for the print shop, in the admin and as CSV."""

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from loyalty.exceptions import Conflict, InvalidRequest
from members.ean import ean13_from_serial, ean13_is_valid
from members.exports import cell_safe, csv_rows
from members.models import Card, CardBatch
from members.services import card_batch_create
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def test_a_batch_is_a_range_of_blank_cards_with_check_digits(operator):
    batch = card_batch_create(name="Print order 1", partner=operator, prefix="2001", size=250)
    cards = list(Card.objects.filter(batch=batch).order_by("number"))
    assert len(cards) == 250
    assert all(ean13_is_valid(c.number) and c.number.startswith("2001") for c in cards)
    assert {c.status for c in cards} == {Card.Status.BLANK}
    assert cards[0].number == ean13_from_serial("2001", 1)
    assert (batch.first_serial, batch.last_serial) == (1, 250)


def test_the_next_batch_continues_and_skips_numbers_already_in_use(operator):
    card_batch_create(name="First", partner=operator, prefix="2001", size=10)
    CardFactory(number=ean13_from_serial("2001", 12), partner=operator)  # a legacy card
    second = card_batch_create(name="Second", partner=operator, prefix="2001", size=5)
    serials = sorted(int(c.number[4:12]) for c in second.cards.all())
    assert serials == [11, 13, 14, 15, 16]
    assert (second.first_serial, second.last_serial) == (11, 16)


def test_a_co_branded_range_belongs_to_its_partner():
    bank = PartnerFactory(code="bank")
    batch = card_batch_create(name="Bank debit cards", partner=bank, prefix="4276", size=3)
    assert set(batch.cards.values_list("partner__code", flat=True)) == {"bank"}


def test_a_full_prefix_and_bad_input_are_refused_without_damage(operator):
    with pytest.raises(InvalidRequest):
        card_batch_create(name="x", partner=operator, prefix="20a", size=5)
    with pytest.raises(InvalidRequest):
        card_batch_create(name="x", partner=operator, prefix="2001", size=0)
    card_batch_create(name="fill", partner=operator, prefix="12345678", size=9990)
    with pytest.raises(Conflict):
        card_batch_create(name="too many", partner=operator, prefix="12345678", size=20)
    assert not CardBatch.objects.filter(name="too many").exists()
    assert Card.objects.count() == 9990


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("m", "m@example.com", "pw-test-only"))


def test_the_admin_creates_a_batch_and_downloads_its_numbers(client, staff, operator, program):
    add = reverse("admin:members_cardbatch_add")
    page = client.get(add).content.decode()
    assert 'value="200"' in page  # the program's prefix is offered
    response = client.post(
        add, {"name": "Order 7", "partner": operator.pk, "number_prefix": "200", "size": "30"}
    )
    assert response.status_code == 302
    batch = CardBatch.objects.get()
    download = client.get(reverse("admin:members_cardbatch_numbers_csv", args=[batch.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["card_number"]
    assert [r[0] for r in rows[1:]] == sorted(batch.cards.values_list("number", flat=True))


def test_the_admin_explains_a_bad_prefix(client, staff, operator):
    response = client.post(
        reverse("admin:members_cardbatch_add"),
        {"name": "x", "partner": operator.pk, "number_prefix": "12ab", "size": "5"},
    )
    assert "A prefix is 1 to 8 digits." in response.content.decode()
    assert not CardBatch.objects.exists()


@pytest.mark.parametrize("value", ["=1+1", "+7912", "-5", "@SUM(A1)", "\tx", "\rx"])
def test_cells_that_would_be_formulas_are_escaped(value):
    assert cell_safe(value) == "'" + value
    written = "".join(csv_rows(["h"], [[value]]))
    assert list(csv.reader(io.StringIO(written.lstrip("\ufeff"))))[1] == ["'" + value]


def test_ordinary_cells_are_left_alone():
    assert cell_safe("Anna") == "Anna"
    assert cell_safe(12) == 12


def test_member_exports_never_carry_a_formula(client, staff, operator):
    from openpyxl import load_workbook

    from tests.factories import MemberFactory

    sly = MemberFactory(full_name='=HYPERLINK("http://evil.example","x")', phone="+79135550000")
    changelist = reverse("admin:members_member_changelist")
    chosen = {"_selected_action": [sly.pk]}
    as_csv = client.post(changelist, {"action": "export_csv", **chosen})
    text = b"".join(as_csv.streaming_content).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[1] == "'" + sly.full_name
    assert row[2] == "'+79135550000"
    as_xlsx = client.post(changelist, {"action": "export_xlsx", **chosen})
    path = io.BytesIO(b"".join(as_xlsx.streaming_content))
    sheet = load_workbook(path).active
    values = [cell.value for cell in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert values[1].startswith("'=")
    assert sheet.cell(row=2, column=2).data_type == "s"  # a string, not a formula


def test_card_exports_in_xlsx(client, staff, operator):
    from openpyxl import load_workbook

    batch = card_batch_create(name="Print 1", partner=operator, prefix="2001", size=3)
    changelist = reverse("admin:members_card_changelist")
    ids = list(batch.cards.values_list("pk", flat=True))
    response = client.post(changelist, {"action": "export_xlsx", "_selected_action": ids})
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    numbers = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert numbers == sorted(batch.cards.values_list("number", flat=True))
