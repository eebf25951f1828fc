"""The point ledger: the one place that moves points.

Every service that changes a balance locks the member's accounts with
`member_accounts_lock` and then calls `transfer_post` (directly or through
`available_credit`). Member balances are updated in the same transaction as
the transfer row; system accounts are never locked or updated, so accruals of
different members never wait for each other.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F

from members.models import Card, Member
from partners.models import Partner

from .bulk import Column, Ids, references_checked
from .exceptions import CardNotFound, InsufficientPoints
from .models import Account, Lot, Purchase, Refund, Transfer

Kind = Account.Kind
Code = Transfer.Code


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


def _balance_delta(account: Account, *, credited: bool, amount: int) -> int:
    sign = 1 if credited else -1
    if account.kind in Account.DEBIT_NORMAL_KINDS:
        sign = -sign
    return sign * amount


def transfer_post(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    code: str,
    now: datetime,
    purchase: Purchase | None = None,
    refund: Refund | None = None,
    reference: str = "",
    from_lot: Lot | None = None,
    lot_release_at: datetime | None = None,
    lot_expires_at: datetime | None = None,
) -> Transfer:
    """Post one transfer and keep member balances and lots in step with it.

    Member accounts passed here must come from `member_accounts_lock` in the
    current transaction. A debit from a lot account consumes `from_lot`, or
    the account's lots FIFO by expiry; a credit to one opens a new lot.
    Raises InsufficientPoints (and writes nothing) if a member balance would
    go negative.
    """
    if amount <= 0:
        raise ValueError(f"transfer amount must be positive, got {amount}")
    new_balances = [
        (account, account.balance + _balance_delta(account, credited=credited, amount=amount))
        for account, credited in ((debit, False), (credit, True))
        if account.is_member_account
    ]
    if any(balance < 0 for _account, balance in new_balances):
        raise InsufficientPoints()
    transfer = Transfer.objects.create(
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        code=code,
        purchase=purchase,
        refund=refund,
        reference=reference,
        created_at=now,
    )
    for account, balance in new_balances:
        account.balance = balance
        Account.objects.filter(pk=account.pk).update(balance=balance)
    if debit.kind in Account.LOT_KINDS:
        _lots_consume(debit, amount, from_lot)
    if credit.kind in Account.LOT_KINDS:
        Lot.objects.create(
            account=credit,
            transfer=transfer,
            amount=amount,
            remaining=amount,
            release_at=lot_release_at if credit.kind == Kind.PENDING else None,
            expires_at=lot_expires_at,
            created_at=now,
        )
    return transfer


def _fifo_lots(account: Account) -> Any:
    """The account's lots with points left, in the order debits consume them."""
    return Lot.objects.filter(account=account, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "id"
    )


def lots_fifo_take(account: Account, amount: int) -> list[tuple[datetime | None, int]]:
    """What a debit of `amount` will take, by expiry date, oldest first.

    Read under the account's lock just before the debit, it is exactly what
    `transfer_post` consumes: a hold keeps it to give the points back unchanged.
    """
    taken: list[tuple[datetime | None, int]] = []
    left = amount
    for expires_at, remaining in _fifo_lots(account).values_list("expires_at", "remaining"):
        take = min(remaining, left)
        if taken and taken[-1][0] == expires_at:
            taken[-1] = (expires_at, taken[-1][1] + take)
        else:
            taken.append((expires_at, take))
        left -= take
        if left == 0:
            break
    return taken


def _lots_consume(account: Account, amount: int, from_lot: Lot | None) -> None:
    if from_lot is not None:
        if from_lot.account_id != account.pk or from_lot.remaining < amount:
            raise ValueError("lot does not cover the debit")
        from_lot.remaining -= amount
        Lot.objects.filter(pk=from_lot.pk).update(remaining=F("remaining") - amount)
        return
    left = amount
    for lot in _fifo_lots(account).iterator(chunk_size=50):
        take = min(lot.remaining, left)
        Lot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        left -= take
        if left == 0:
            return
    # Unreachable while lots match the balance, which was checked above.
    raise AssertionError(f"lots of account {account.pk} do not cover {amount} points")


def lots_debit_whole(
    *, lots: list[tuple[int, int]], credit: Account, code: str, now: datetime
) -> int:
    """The bulk form of `transfer_post` for jobs: move the remaining points of
    each `(lot id, account id)` from its account to `credit` (a system account),
    one transfer per lot.

    Locks the owning accounts in ascending id order (the order every posting
    uses), then works only on what is still in the lots: points a concurrent
    purchase consumed, or a concurrent or repeated run already moved, are not
    moved again. Set-based statements, no per-row Python: a 100-day expiry
    backlog is half a million lots. Returns points moved.
    """
    in_lots, lot_params = _id_in("id", [lot_id for lot_id, _account in lots])
    live = f"{in_lots} AND remaining > 0"
    debits_sql = (
        f"SELECT account_id, SUM(remaining) FROM loyalty_lot WHERE {live} GROUP BY account_id"
    )
    transfers_sql = (
        "INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code, "
        "purchase_id, refund_id, reference, created_at) "
        "SELECT account_id, %s, remaining, %s, NULL, NULL, 'lot:' || id, %s "
        f"FROM loyalty_lot WHERE {live}"
    )
    with connection.cursor() as cursor:
        _accounts_lock(cursor, sorted({account_id for _lot, account_id in lots}))
        cursor.execute(debits_sql, lot_params)
        debits = [(int(points), account_id) for account_id, points in cursor.fetchall()]
        if not debits:
            return 0
        cursor.execute(transfers_sql, [credit.pk, code, now, *lot_params])
        _balances_debit(cursor, debits)
        cursor.execute(f"UPDATE loyalty_lot SET remaining = 0 WHERE {live}", lot_params)
    return sum(points for points, _account in debits)


def _balances_debit(cursor: Any, debits: list[tuple[int, int]]) -> None:
    """Subtract `(points, account id)` pairs from stored balances, by primary key.

    (Joined with the lots table instead, the update let the planner scan every
    account.)
    """
    cursor.execute(
        "UPDATE loyalty_account SET balance = balance - debit.points "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS debit(points, id) "
        "WHERE loyalty_account.id = debit.id",
        [[points for points, _id in debits], [account_id for _p, account_id in debits]],
    )


def _accounts_lock(cursor: Any, account_ids: list[int]) -> None:
    """Row-lock accounts in ascending id order."""
    if not account_ids:
        return
    in_accounts, params = _id_in("id", account_ids)
    cursor.execute(
        f"SELECT id FROM loyalty_account WHERE {in_accounts} ORDER BY id FOR UPDATE", params
    )


def _id_in(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """`column` is one of `ids`, as SQL and parameters."""
    # One array parameter, so the statement (and its prepared plan) is the
    # same whatever the batch size; sent as an array literal, which costs
    # a fraction of adapting thousands of ints one by one.
    return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]


def pending_lots_release(*, lot_ids: list[int], now: datetime) -> int:
    """The bulk form of releasing pending lots into available points, for the job.

    Locks the members' accounts in ascending id order and re-reads the lots, so
    nothing is released twice. Each lot becomes one `pending -> available`
    transfer and a new available lot keeping the expiry it was earned with.
    Members who owe points go through `available_credit`, which repays the
    debt first. Returns points released.
    """
    member_ids = Lot.objects.filter(id__in=lot_ids).values_list("account__member_id", flat=True)
    locked = Account.objects.select_for_update().filter(member_id__in=set(member_ids))
    rows_by_member: dict[int | None, list[Account]] = {}
    for account in locked.order_by("id"):
        rows_by_member.setdefault(account.member_id, []).append(account)
    members = {member: MemberAccounts.from_rows(rows) for member, rows in rows_by_member.items()}
    lots = Lot.objects.select_related("account", "transfer").filter(
        id__in=lot_ids, remaining__gt=0, release_at__lte=now
    )
    plain: list[tuple[Lot, MemberAccounts]] = []
    released = 0
    for lot in lots.order_by("release_at", "id"):
        accounts = members[lot.account.member_id]
        released += lot.remaining
        if accounts.debt.balance:
            available_credit(
                accounts=accounts,
                source=accounts.pending,
                amount=lot.remaining,
                code=Code.RELEASE,
                expires_at=lot.expires_at,
                from_lot=lot,
                purchase=lot.transfer.purchase,
                now=now,
            )
        else:
            plain.append((lot, accounts))
    if plain:
        _pending_lots_release_plain(plain, now)
    return released


def _pending_lots_release_plain(lots: list[tuple[Lot, MemberAccounts]], now: datetime) -> None:
    transfers = Transfer.objects.bulk_create(
        [
            Transfer(
                debit_account=accounts.pending,
                credit_account=accounts.available,
                amount=lot.remaining,
                code=Code.RELEASE,
                purchase_id=lot.transfer.purchase_id,
                created_at=now,
            )
            for lot, accounts in lots
        ]
    )
    Lot.objects.bulk_create(
        [
            Lot(
                account=accounts.available,
                transfer=transfer,
                amount=lot.remaining,
                remaining=lot.remaining,
                expires_at=lot.expires_at,
                created_at=now,
            )
            for (lot, accounts), transfer in zip(lots, transfers, strict=True)
        ]
    )
    changed: dict[int, Account] = {}
    for lot, accounts in lots:
        accounts.pending.balance -= lot.remaining
        accounts.available.balance += lot.remaining
        changed[accounts.pending.pk] = accounts.pending
        changed[accounts.available.pk] = accounts.available
    Account.objects.bulk_update(list(changed.values()), ["balance"])
    Lot.objects.filter(id__in=[lot.pk for lot, _accounts in lots]).update(remaining=0)


def available_credit(
    *,
    accounts: MemberAccounts,
    source: Account,
    amount: int,
    code: str,
    now: datetime,
    expires_at: datetime | None,
    from_lot: Lot | None = None,
    purchase: Purchase | None = None,
    refund: Refund | None = None,
    reference: str = "",
) -> int:
    """Credit points to `available`, repaying any debt first. Returns points made available.

    This is the debt policy: points a member owes after a refund are netted
    from whatever they are credited next.
    """
    repay = min(accounts.debt.balance, amount)
    if repay:
        transfer_post(
            debit=source,
            credit=accounts.debt,
            amount=repay,
            code=Code.DEBT_REPAYMENT,
            from_lot=from_lot,
            now=now,
            purchase=purchase,
            refund=refund,
            reference=reference,
        )
    rest = amount - repay
    if rest:
        transfer_post(
            debit=source,
            credit=accounts.available,
            amount=rest,
            code=code,
            from_lot=from_lot,
            lot_expires_at=expires_at,
            now=now,
            purchase=purchase,
            refund=refund,
            reference=reference,
        )
    return rest
