"""Legacy card import: messy files read right, every row checked, all or nothing."""

import csv
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.ledger import Kind, ledger_breaches, system_account
from loyalty.models import Account, Lot, ProgramSettings, Transfer
from loyalty.program import points_expire_at, program_settings, program_settings_update
from members.ean import ean13_from_serial
from members.imports.reader import UnreadableFile
from members.imports.runner import ImportRefused, cards_import
from members.models import Card, Member
from partners.models import Outlet
from tests.balances import available_points
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


def number(serial):
    return ean13_from_serial("777", serial)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def run(path, *args):
    call_command("import_cards", str(path), *args)


def report_rows(path):
    report = path.with_name(f"{path.stem}.import-report.csv")
    with report.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def available(card_number):
    return available_points(Card.objects.get(number=card_number).member)


def test_a_clean_file_creates_members_cards_and_opening_balances(tmp_path, operator, program):
    path = write(
        tmp_path / "cards.csv",
        "\ufeffcard_number,phone,full_name,email,balance,issued_at,birth_date\n"
        f"{number(1)},+79123456701,Anna Ivanova,anna@example.com,120,2026-05-01,1990-03-08\n"
        f"{number(2)},+79123456702,Ivan Petrov,,0,2026-06-01,\n"
        f"{number(3)},,Olga,,35,,\n",
    )
    run(path)
    assert Member.objects.filter(source="import").count() == 3
    anna = Member.objects.get(phone="+79123456701")
    assert (anna.full_name, anna.email, anna.birth_date) == (
        "Anna Ivanova",
        "anna@example.com",
        date(1990, 3, 8),
    )
    assert available(number(1)) == 120
    assert Card.objects.get(number=number(2)).status == Card.Status.ISSUED
    migration = Transfer.objects.filter(code="migration").aggregate(total=Sum("amount"))["total"]
    assert migration == 155  # the file's total
    lot = Lot.objects.get(transfer__credit_account__member=anna)
    assert lot.expires_at == datetime(2027, 5, 1, tzinfo=timezone.get_current_timezone())
    assert not ledger_breaches()


def test_a_windows_1251_semicolon_export_in_russian(tmp_path, operator, program, capsys):
    Outlet.objects.create(partner=operator, code="central", name="Центральный")
    path = write(
        tmp_path / "база.csv",
        "Номер карты;Телефон;ФИО;Баланс;Дата выдачи;Магазин\r\n"
        f'{number(1)};8 (912) 345-67-89;"Иванов; Иван Иванович";1 234,00;01.02.2025;Центральный\r\n'
        "\r\n"
        f"{number(2)};+7 912 345 67 88;Петрова Ольга;0;15.03.2025;central\r\n"
        f"{number(3)};9123456787;Сидоров;\u00a0500;2025-04-01;\r\n",
        encoding="cp1251",
    )
    run(path)
    assert "cp1251" in capsys.readouterr().out
    holder = Member.objects.get(phone="+79123456789")
    assert holder.full_name == "Иванов; Иван Иванович"
    assert available(number(1)) == 1234
    assert available(number(3)) == 500
    card = Card.objects.get(number=number(2))
    assert card.outlet.code == "central"
    assert timezone.localdate(card.issued_at) == date(2025, 3, 15)


def test_polish_headers_and_tabs(tmp_path, operator, program):
    path = write(
        tmp_path / "karty.tsv",
        "Numer karty\tTelefon\tImię i nazwisko\tSaldo\n"
        f"{number(1)}\t+48 601 234 567\tJan Kowalski\t1.234,00\n",
    )
    run(path)
    assert Member.objects.get().phone == "+48601234567"
    assert available(number(1)) == 1234


def test_xlsx_with_numbers_and_dates_as_cells(tmp_path, operator, program):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Card number", "Phone", "Name", "Balance", "Issued", "Birthday"])
    sheet.append(
        [float(number(1)), "89123456701", "Anna", 250, datetime(2026, 1, 5), date(1991, 7, 1)]
    )
    sheet.append([])
    sheet.append([number(2), None, "Boris", "1 000", "05.01.2026", None])
    path = tmp_path / "cards.xlsx"
    workbook.save(path)
    run(path)
    assert available(number(1)) == 250
    assert available(number(2)) == 1000
    assert Member.objects.get(full_name="Anna").birth_date == date(1991, 7, 1)


def test_bad_rows_are_reported_and_good_rows_import(tmp_path, operator, program):
    CardFactory(number=number(50), partner=operator)
    taken_phone = CardFactory(partner=operator).member.phone
    bad_check_digit = number(9)[:-1] + str((int(number(9)[-1]) + 1) % 10)
    path = write(
        tmp_path / "cards.csv",
        "card_number,phone,balance,issued_at,birth_date\n"
        f"{number(1)},+79130000001,10,,\n"  # row 2: fine
        f"{bad_check_digit},+79130000002,10,,\n"  # row 3
        f"{number(3)},not a phone,10,,\n"  # row 4
        f"{number(4)},+79130000004,10,31.02.2025,\n"  # row 5
        f"{number(5)},+79130000005,-5,,\n"  # row 6
        f'{number(6)},+79130000006,"12,50",,\n'  # row 7
        f"{number(1)},+79130000007,10,,\n"  # row 8: card twice
        f"{number(50)},+79130000008,10,,\n"  # row 9: card in the database
        f"{number(10)},{taken_phone},10,,\n"  # row 10: phone in the database
        f"{number(11)},+79120000011,10,,01.01.2999\n",  # row 11: born in the future
    )
    summary = cards_import(path, report_path=path.with_name("cards.import-report.csv"))
    assert (summary.rows, summary.created, summary.skipped, summary.errors) == (10, 1, 2, 7)
    reasons = {(int(r["row"]), r["column"]): (r["outcome"], r["reason"]) for r in report_rows(path)}
    assert reasons[(3, "card_number")][1].startswith("Not a valid EAN-13")
    assert reasons[(4, "phone")][1] == "Not a phone number."
    assert reasons[(5, "issued_at")][1].startswith("Not a date")
    assert reasons[(6, "balance")][1] == "A balance cannot be negative."
    assert reasons[(7, "balance")][1].startswith("Points are whole numbers")
    assert reasons[(8, "card_number")][1].startswith("The card number is also on row 2")
    assert reasons[(9, "card_number")] == ("skipped", "A card with this number already exists.")
    assert reasons[(10, "phone")] == ("skipped", "A member with this phone already exists.")
    assert reasons[(11, "birth_date")][1] == "The date is in the future."
    assert Member.objects.filter(source="import").count() == 1
    assert not ledger_breaches()


def test_a_dry_run_writes_nothing(tmp_path, operator, program, capsys):
    path = write(tmp_path / "cards.csv", f"card_number,balance\n{number(1)},10\n{number(2)},5\n")
    before = (Member.objects.count(), Card.objects.count(), Transfer.objects.count())
    run(path, "--dry-run")
    output = capsys.readouterr().out
    assert "2 would be created" in output
    assert "Dry run: nothing was written." in output
    assert (Member.objects.count(), Card.objects.count(), Transfer.objects.count()) == before


def test_importing_the_same_file_again_changes_nothing(tmp_path, operator, program):
    path = write(
        tmp_path / "cards.csv", f"card_number,phone,balance\n{number(1)},+79120000001,10\n"
    )
    run(path)
    state = (Member.objects.count(), Transfer.objects.count(), available(number(1)))
    summary = cards_import(path)
    assert (summary.created, summary.skipped) == (0, 1)
    assert (Member.objects.count(), Transfer.objects.count(), available(number(1))) == state


def test_on_conflict_fail_imports_nothing(tmp_path, operator, program):
    CardFactory(number=number(2), partner=operator)
    path = write(tmp_path / "cards.csv", f"card_number\n{number(1)}\n{number(2)}\n")
    with pytest.raises(CommandError, match="already exist"):
        run(path, "--on-conflict", "fail")
    assert not Card.objects.filter(number=number(1)).exists()


def test_on_conflict_update_refreshes_holders_but_not_balances(tmp_path, operator, program):
    path = write(
        tmp_path / "cards.csv",
        f"card_number,full_name,email,balance\n{number(1)},Anna,,10\n{number(2)},Boris,,20\n",
    )
    run(path)
    write(
        path,
        f"card_number,full_name,email,balance\n{number(1)},Anna Ivanova,a@example.com,99\n"
        f"{number(2)},Boris,,20\n",
    )
    summary = cards_import(path, on_conflict="update")
    assert (summary.updated, summary.skipped) == (1, 1)
    anna = Card.objects.get(number=number(1)).member
    assert (anna.full_name, anna.email) == ("Anna Ivanova", "a@example.com")
    assert available(number(1)) == 10


def test_unknown_headers_are_mapped_by_hand(tmp_path, operator, program):
    path = write(tmp_path / "cards.csv", f"Kartennummer,Punkte\n{number(1)},7\n")
    with pytest.raises(CommandError, match="No card number column"):
        run(path)
    run(path, "--map", "Kartennummer=card_number", "--map", "Punkte=balance")
    assert available(number(1)) == 7


def test_a_file_that_turns_out_not_to_be_utf8_stops_with_a_hint(tmp_path, operator, program):
    rows = "".join(f"{number(i)},Anna\n" for i in range(1, 5000))  # past the 64 KB sniffed
    data = ("card_number,full_name\n" + rows).encode() + f"{number(9000)},Иван\n".encode("cp1251")
    path = tmp_path / "cards.csv"
    path.write_bytes(data)
    with pytest.raises(CommandError, match="cp1251"):
        run(path)
    assert not Card.objects.exists()
    run(path, "--encoding", "cp1251")
    assert Card.objects.count() == 5000


def test_balances_sum_to_the_files_total_on_random_rows(tmp_path, operator, program):
    import random

    rng = random.Random(7)
    balances = [rng.randint(0, 5000) for _ in range(400)]
    lines = "".join(f"{number(i)};{b}\n" for i, b in enumerate(balances, start=1))
    path = write(tmp_path / "cards.csv", "Номер карты;Баланс\n" + lines)
    summary = cards_import(path)
    assert summary.points == sum(balances)
    total = Account.objects.filter(kind=Kind.AVAILABLE).aggregate(total=Sum("balance"))["total"]
    assert total == Decimal(sum(balances))
    assert not ledger_breaches()


def test_a_refused_import_still_reports_the_conflicting_rows(tmp_path, operator, program):
    CardFactory(number=number(2), partner=operator)
    path = write(tmp_path / "cards.csv", f"card_number\n{number(1)}\n{number(2)}\n")
    with pytest.raises(CommandError):
        run(path, "--on-conflict", "fail")
    rows = report_rows(path)
    assert [(r["row"], r["reason"]) for r in rows] == [
        ("3", "A card with this number already exists.")
    ]


def test_repeats_across_chunks_point_to_the_first_row(tmp_path, operator, program, monkeypatch):
    """Rows are checked and inserted a chunk at a time; a repeat in a later chunk is still
    a repeat of its first row, not a card that "already exists"."""
    from members.imports import runner

    monkeypatch.setattr(runner, "CHUNK_ROWS", 2)
    path = write(
        tmp_path / "cards.csv",
        "card_number,phone,balance\n"
        f"{number(1)},+79130000001,10\n"  # row 2
        f"{number(2)},,20\n"  # row 3
        f"{number(3)},+79130000001,30\n"  # row 4: phone of row 2
        f"{number(4)},+79130000004,40\n"  # row 5
        f"{number(1)},+79130000009,50\n",  # row 6: card of row 2
    )
    summary = cards_import(path, report_path=path.with_name("cards.import-report.csv"))
    assert (summary.created, summary.skipped, summary.errors, summary.points) == (3, 0, 2, 70)
    reasons = {int(r["row"]): r["reason"] for r in report_rows(path)}
    assert reasons == {
        4: "The phone is also on row 2; the first row is imported.",
        6: "The card number is also on row 2; the first row is imported.",
    }
    assert available(number(4)) == 40
    assert not ledger_breaches()


def test_a_broken_row_after_the_first_chunks_leaves_nothing(
    tmp_path, operator, program, monkeypatch
):
    """The first chunks were inserted when the reading thread met the broken row: the
    error reaches the import and its transaction takes them back."""
    from members.imports import runner

    monkeypatch.setattr(runner, "CHUNK_ROWS", 100)
    rows = "".join(f"{number(i)},Anna\n" for i in range(1, 5000))
    data = ("card_number,full_name\n" + rows).encode() + f"{number(9000)},Иван\n".encode("cp1251")
    path = tmp_path / "cards.csv"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match="cp1251"):
        cards_import(path)
    assert not Card.objects.exists()
    assert not Member.objects.exists()


def test_rows_are_checked_in_the_callers_language(tmp_path, operator, program):
    path = write(tmp_path / "cards.csv", f"card_number,phone\n{number(1)},not a phone\n")
    with translation.override("ru"):
        cards_import(path, report_path=path.with_name("cards.import-report.csv"))
    [row] = report_rows(path)
    assert row["reason"] == "Это не номер телефона."


CHUNK_CARDS = [number(serial) for serial in range(1, 6)] + ["7770000000000"]  # last: invalid
CHUNK_PHONES = ["+79140000001", "+79140000002", "+79140000003", "", "junk"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(CHUNK_CARDS),
            st.sampled_from(CHUNK_PHONES),
            st.sampled_from(["", "Anna", "Boris"]),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=12,
    ),
    chunk_rows=st.integers(1, 4),
    on_conflict=st.sampled_from(["skip", "update", "fail"]),
)
def test_chunks_change_nothing_in_the_outcome(
    tmp_path, operator, program, monkeypatch, rows, chunk_rows, on_conflict
):
    """Against the database's cards and phones and the file's own repeats, importing a
    chunk at a time ends exactly as importing the file in one go."""
    from members.imports import runner

    system_account(Kind.MIGRATION)  # outside the rolled-back imports below
    if not Card.objects.filter(number=number(5)).exists():
        CardFactory(number=number(5), partner=operator, member__phone="+79140000003")
    lines = "".join(f"{card},{phone},{name},{balance}\n" for card, phone, name, balance in rows)
    path = write(tmp_path / "cards.csv", "card_number,phone,full_name,balance\n" + lines)

    def outcome(chunk: int):
        monkeypatch.setattr(runner, "CHUNK_ROWS", chunk)
        report = path.with_name("cards.import-report.csv")
        with transaction.atomic():
            try:
                summary = cards_import(path, on_conflict=on_conflict, report_path=report)
                counts = (summary.created, summary.updated, summary.skipped, summary.errors)
            except ImportRefused:
                counts = "refused"
            holders = sorted(
                Card.objects.filter(number__in=CHUNK_CARDS).values_list(
                    "number", "member__phone", "member__full_name"
                )
            )
            balances = sorted(
                Account.objects.filter(kind=Kind.AVAILABLE, member__source="import").values_list(
                    "member__cards__number", "balance"
                )
            )
            assert not ledger_breaches()
            transaction.set_rollback(True)
        return counts, holders, balances, report_rows(path)

    assert outcome(chunk_rows) == outcome(10_000)


def test_a_failure_while_inserting_stops_the_reading_thread(
    tmp_path, operator, program, monkeypatch
):
    import sys
    import threading

    from members.imports import inserting, runner

    monkeypatch.setattr(runner, "CHUNK_ROWS", 10)
    insert = inserting.Inserter.chunk_insert
    inserted = []

    def second_chunk_fails(self, chunk):
        if inserted:
            raise RuntimeError("the database went away")
        inserted.append(chunk.first_row)
        insert(self, chunk)

    monkeypatch.setattr(inserting.Inserter, "chunk_insert", second_chunk_fails)
    rows = "".join(f"{number(i)}\n" for i in range(1, 500))
    path = write(tmp_path / "cards.csv", "card_number\n" + rows)
    interval = sys.getswitchinterval()
    with pytest.raises(RuntimeError, match="went away"):
        cards_import(path)
    assert "import-read-ahead" not in [thread.name for thread in threading.enumerate()]
    assert sys.getswitchinterval() == interval
    assert not Card.objects.exists()


def test_an_imported_member_is_made_as_any_other_at_once(tmp_path, operator, program, pos):
    """Three accounts (ids ascending, the lock order) and a referral code, from the import
    itself: nothing is made up on first use."""
    path = write(tmp_path / "cards.csv", f"card_number,phone,balance\n{number(1)},,50\n")
    cards_import(path)
    member = Card.objects.get(number=number(1)).member
    accounts = list(member.accounts.order_by("id").values_list("kind", "balance"))
    assert accounts == [(Kind.AVAILABLE, 50), (Kind.PENDING, 0), (Kind.DEBT, 0)]
    assert len(member.referral_code) == 8
    shown = pos.get("/api/v1/members/lookup/", {"card": number(1)}).json()
    assert shown["member"]["referral_code"] == member.referral_code
    assert not ledger_breaches()


def test_referral_codes_already_held_are_drawn_again(operator, monkeypatch):
    from members import services

    taken = CardFactory(partner=operator).member.referral_code
    draws = iter([taken.encode(), b"FRESH234"])  # the translation maps these to themselves
    monkeypatch.setattr(services, "_REFERRAL_TABLE", bytes.maketrans(b"", b""))
    monkeypatch.setattr(services.secrets, "token_bytes", lambda _size: next(draws))
    assert services.referral_codes_draw(1) == ["FRESH234"]


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=14), max_size=300))
def test_the_seen_filter_never_misses_a_repeat(keys):
    """A Bloom filter may flag a new key (SQL then finds it is not a repeat), but never
    lets a repeat pass unflagged: that row would be imported twice."""
    from members.imports.parsing import SeenFilter

    seen = SeenFilter()
    added: set[str] = set()
    for key in keys:
        flagged = seen.add(key)
        assert flagged or key not in added
        added.add(key)
    assert all(seen.add(key) for key in added)


def test_rows_are_read_in_the_callers_time_zone(tmp_path, operator, program):
    """Expiry at the end of the month is the end of the month where the import runs."""
    program_settings_update(expiry_period=ProgramSettings.ExpiryPeriod.MONTH_END)
    path = write(
        tmp_path / "cards.csv", f"card_number,balance,issued_at\n{number(1)},5,2025-01-31T20:00Z\n"
    )
    with timezone.override("Asia/Vladivostok"):  # already 1 February there
        cards_import(path)
        expected = points_expire_at(program_settings(), datetime.fromisoformat("2025-01-31T20:00Z"))
    assert Lot.objects.get().expires_at == expected
    assert expected.astimezone(ZoneInfo("Asia/Vladivostok")).month == 2


def test_two_imports_at_once_leave_the_switch_interval_as_it_was():
    import sys

    from members.imports.runner import _quick_lock_handover

    interval = sys.getswitchinterval()
    _quick_lock_handover.begin()  # the first import starts
    _quick_lock_handover.begin()  # a second one starts
    _quick_lock_handover.end()  # the first ends first
    assert sys.getswitchinterval() == _quick_lock_handover.INTERVAL
    _quick_lock_handover.end()
    assert sys.getswitchinterval() == interval
