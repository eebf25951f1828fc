"""Posting: one transfer at a time, member balances and lots kept in step with it."""

from datetime import datetime
from typing import Any

from django.db.models import F

from ..exceptions import InsufficientPoints
from ..models import Account, Lot, Purchase, Refund, Transfer
from .accounts import Kind, MemberAccounts

Code = Transfer.Code


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
