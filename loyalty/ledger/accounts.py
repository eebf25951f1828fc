"""Members' and the system's accounts: opened together with the member, locked in id order."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F

from members.models import Card, Member
from partners.models import Partner

from ..bulk import Column, Ids, references_checked
from ..exceptions import CardNotFound
from ..models import Account

Kind = Account.Kind


@dataclass
class MemberAccounts:
    """A member's accounts, locked FOR UPDATE for the current transaction."""

    available: Account
    pending: Account
    debt: Account

    @classmethod
    def from_rows(cls, rows: Iterable[Account]) -> "MemberAccounts":
        """From one member's three account rows, in any order."""
        by_kind = {account.kind: account for account in rows}
        return cls(by_kind[Kind.AVAILABLE], by_kind[Kind.PENDING], by_kind[Kind.DEBT])


@dataclass(frozen=True)
class OpeningBalances:
    """Points members bring from a system they leave: a table of this transaction with one
    row per new member (`member_id`, `points`, `expires_at`, `position`), each posted from
    the migration account into their available account as one lot."""

    table: str
    reference: str
    now: datetime


def member_accounts_open(member_ids: Sequence[int]) -> None:
    """New members' three accounts: available, pending and debt, ids ascending in that
    order for each (the order every lock takes)."""
    _accounts_open(
        source="unnest(%(members)s::bigint[]) WITH ORDINALITY AS member(member_id, position)",
        columns="member_id, 0::bigint, NULL::timestamptz, position",
        params={"members": list(member_ids)},
        members=member_ids,
        migration=None,
    )


def member_accounts_open_with_balances(opening: OpeningBalances) -> None:
    """The bulk form, for an import: each member of `opening.table` gets its three accounts
    and its opening balance (a `migration` transfer and its lot, where above zero), in one
    statement; the rows are read where they are, never carried through Python."""
    members = Column(opening.table, "member_id")  # checks the table's name
    _accounts_open(
        source=opening.table,
        columns="member_id, points, expires_at, position",
        params={"reference": opening.reference, "now": opening.now},
        members=members,
        migration=system_account(Kind.MIGRATION).pk,
    )


def _accounts_open(
    *, source: str, columns: str, params: dict[str, Any], members: Ids, migration: int | None
) -> None:
    with connection.cursor() as cursor:
        references = [("members_member", members), ("loyalty_account", [migration])]
        with references_checked(cursor, references):
            cursor.execute(
                _ACCOUNTS_OPEN_SQL.format(source=source, columns=columns),
                {
                    "reference": "",
                    "now": None,
                    **params,
                    "migration": migration,
                    "accounts": _id_sequence(cursor, "loyalty_account"),
                    "transfers": _id_sequence(cursor, "loyalty_transfer"),
                },
            )


_id_sequences: dict[str, str] = {}


def _id_sequence(cursor: Any, table: str) -> str:
    """The sequence of a table's ids, as a name the statement casts to regclass once (a
    call of pg_get_serial_sequence per row would look it up a million times)."""
    if table not in _id_sequences:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        _id_sequences[table] = cursor.fetchone()[0]
    return _id_sequences[table]


# One statement: each member's ids drawn first, in order (available < pending < debt, then
# the transfer's), so that the accounts, the transfers and the lots are plain inserts with
# no join between them. The CTE is evaluated once (nextval is volatile).
_ACCOUNTS_OPEN_SQL = """
WITH opening AS (
    SELECT member.id AS member_id, member.points, member.expires_at,
        nextval(%(accounts)s::regclass) AS available_id,
        nextval(%(accounts)s::regclass) AS pending_id,
        nextval(%(accounts)s::regclass) AS debt_id,
        CASE WHEN member.points > 0
            THEN nextval(%(transfers)s::regclass) END AS transfer_id
    FROM (SELECT {columns} FROM {source}) AS member(id, points, expires_at, position)
    ORDER BY member.position
),
accounts AS (
    INSERT INTO loyalty_account (id, kind, member_id, partner_id, balance)
    SELECT account.id, account.kind, opening.member_id, NULL, account.balance
    FROM opening CROSS JOIN LATERAL (VALUES
        (opening.available_id, 'available', opening.points),
        (opening.pending_id, 'pending', 0),
        (opening.debt_id, 'debt', 0)) AS account(id, kind, balance)
),
transfers AS (
    INSERT INTO loyalty_transfer (id, debit_account_id, credit_account_id, amount, code,
        purchase_id, refund_id, reference, created_at)
    SELECT transfer_id, %(migration)s, available_id, points, 'migration', NULL, NULL,
        %(reference)s, %(now)s
    FROM opening WHERE points > 0
)
INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, release_at, expires_at,
    created_at)
SELECT available_id, transfer_id, points, points, NULL, expires_at, %(now)s
FROM opening WHERE points > 0
"""


def member_accounts_lock(member_id: int) -> MemberAccounts:
    """Lock the member's accounts in ascending id order (one lock order, no deadlocks)."""
    rows = Account.objects.select_for_update().filter(member_id=member_id).order_by("id")
    return MemberAccounts.from_rows(rows)


def card_accounts_lock(card_number: str) -> tuple[Card, MemberAccounts]:
    """Find a usable card and lock its holder's accounts, in one query.

    The purchase path's hottest read: the card, its member's status and the
    accounts come back together, locked in ascending id order.
    """
    rows = list(
        Account.objects.select_for_update(of=("self",))
        .filter(
            member__cards__number=card_number,
            member__cards__status__in=Card.USABLE,
            member__status=Member.Status.ACTIVE,
        )
        .annotate(
            card_id=F("member__cards__id"),
            card_status=F("member__cards__status"),
            card_partner_id=F("member__cards__partner_id"),
        )
        .order_by("id")
    )
    if not rows:
        raise CardNotFound()
    card = Card(
        id=rows[0].card_id,  # type: ignore[attr-defined]
        number=card_number,
        member_id=rows[0].member_id,
        status=rows[0].card_status,  # type: ignore[attr-defined]
        partner_id=rows[0].card_partner_id,  # type: ignore[attr-defined]
    )
    return card, MemberAccounts.from_rows(rows)


_system_account_ids: dict[tuple[str, int | None], int] = {}


def system_account(kind: str, partner: Partner | None = None) -> Account:
    """A system account (never locked, never materialized); created on first use."""
    partner_id = partner.pk if partner is not None else None
    cache_key = (kind, partner_id)
    account_id = _system_account_ids.get(cache_key)
    if account_id is not None:
        return Account(id=account_id, kind=kind, partner_id=partner_id)
    account, _created = Account.objects.get_or_create(kind=kind, member=None, partner=partner)
    _system_account_ids[cache_key] = account.pk
    return account


def system_account_cache_clear() -> None:
    _system_account_ids.clear()
