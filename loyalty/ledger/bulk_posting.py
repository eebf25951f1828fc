"""The set-based forms of posting, for the jobs: whole lots expired or released at once."""

from datetime import datetime
from typing import Any

from django.db import connection

from ..models import Account, Lot, Transfer
from .accounts import MemberAccounts
from .posting import Code, available_credit


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
