"""Inserting a chunk's new rows: members, cards and, through the ledger, their accounts.

The rows the staging checks left `ok` get member and card ids from the
tables' sequences and referral codes drawn as for any member, in a small
table of the chunk's new rows (`import_new`); members and cards are inserted
from it in one statement each, and `loyalty.ledger.member_accounts_open_with_balances`
opens each member's accounts with its opening balance. References are checked
once per chunk, set-based (`loyalty.bulk.references_checked`).
"""

import re
from datetime import datetime
from typing import Any

from django.db import connection

from loyalty.bulk import Column, Ids, references_checked
from loyalty.ledger import OpeningBalances, member_accounts_open_with_balances
from members.models import Card, Member
from members.services import referral_codes_draw
from partners.selectors import operator_partner

from .staging import Chunk


class Inserter:
    """Creates the new rows of each chunk: members with their referral codes, cards, and,
    through the ledger, each member's accounts with the opening balance."""

    def __init__(self, cursor: Any, now: datetime) -> None:
        self.cursor = cursor
        self.now = now
        self.moment = connection.ops.adapt_datetimefield_value(now)
        self.operator = operator_partner()
        self.sequences = _sequences(cursor)

    def chunk_insert(self, chunk: Chunk) -> None:
        cursor, rows = self.cursor, [chunk.first_row, chunk.last_row]
        cursor.execute(
            "SELECT count(*) FROM import_staging WHERE row_no BETWEEN %s AND %s AND status = 'ok'",
            rows,
        )
        codes = referral_codes_draw(cursor.fetchone()[0])
        cursor.execute(self._ids_sql(), [codes, *rows])
        references: list[tuple[str, Ids]] = [
            ("members_member", Column("import_new", "member_id", inserted_here=True)),
            ("partners_partner", [self.operator.pk]),
            ("partners_outlet", Column("import_new", "outlet_id")),
        ]
        with references_checked(cursor, references):
            self._members_insert()
            self._cards_insert()
            # Through the ledger, the one writer of accounts, transfers and lots, which
            # reads the chunk's table where it is (the members checked once, above).
            member_accounts_open_with_balances(
                OpeningBalances(table="import_new", reference="legacy card import", now=self.now)
            )
        cursor.execute("DROP TABLE import_new")

    def _ids_sql(self) -> str:
        """The chunk's new rows with their member and card ids and referral codes (drawn as
        `members.services.member_create` draws them: `referral_codes_draw`).

        Ids from the tables' sequences, so purchases and card issues can insert
        beside the import.
        """
        # The sequence names are literals, so PostgreSQL resolves each once, not per row.
        ids = {
            "member_id": f"nextval('{self.sequences['members_member']}'::regclass)",
            "card_id": f"nextval('{self.sequences['members_card']}'::regclass)",
        }
        # Codes join by position (an array subscript per row would scan the array each time).
        return (
            "CREATE TEMP TABLE import_new AS SELECT row_no, card_number, phone, full_name, "  # noqa: S608 -- names from pg_get_serial_sequence
            "  email, birth_date, issued_at, outlet_id, balance AS points, expires_at, "
            "  position, code.referral_code, "
            + ", ".join(f"{expression} AS {name}" for name, expression in ids.items())
            + " FROM unnest(%s::text[]) WITH ORDINALITY AS code(referral_code, position) "
            "JOIN (SELECT *, row_number() OVER (ORDER BY row_no) AS position FROM import_staging "
            "  WHERE row_no BETWEEN %s AND %s AND status = 'ok') AS staged USING (position) "
            "ORDER BY row_no"
        )

    def _members_insert(self) -> None:
        self.cursor.execute(
            "INSERT INTO members_member (id, phone, email, full_name, birth_date, consent_email, "
            "  consent_sms, consent_push, status, source, referral_code, created_at) "
            "SELECT member_id, phone, email, full_name, birth_date, %s, %s, %s, %s, %s, "
            "  referral_code, %s "
            "FROM import_new ORDER BY row_no",
            [False, False, False, Member.Status.ACTIVE, Member.Source.IMPORT, self.moment],
        )

    def _cards_insert(self) -> None:
        moment = self.moment
        self.cursor.execute(
            "INSERT INTO members_card (id, number, member_id, partner_id, status, is_virtual, "
            "  issued_at, outlet_id, created_at) "
            "SELECT card_id, card_number, member_id, %s, %s, %s, COALESCE(issued_at, %s), "
            "  outlet_id, %s FROM import_new ORDER BY row_no",
            [self.operator.pk, Card.Status.ISSUED, False, moment, moment],
        )


_SEQUENCE_NAME = re.compile(r"^[A-Za-z0-9_.\"]+$")


def _sequences(cursor: Any) -> dict[str, str]:
    """The id sequences of the tables the import fills (identity columns have them too)."""
    names = {}
    for table in ("members_member", "members_card"):
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        name = cursor.fetchone()[0]
        if not name or not _SEQUENCE_NAME.match(name):
            raise RuntimeError(f"unexpected sequence name {name!r}")
        names[table] = name
    return names
