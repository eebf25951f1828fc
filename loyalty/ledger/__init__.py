"""The point ledger: the one code that writes accounts, transfers and lots.

Every service that changes a balance locks the member's accounts with
`member_accounts_lock` (or `card_accounts_lock`) and then calls `transfer_post`
(directly or through `available_credit`). Member balances are updated in the same
transaction as the transfer row; system accounts are never locked or updated, so
accruals of different members never wait for each other. The jobs post in bulk
(`lots_debit_whole`, `pending_lots_release`); a member's accounts are opened with
the member (`member_accounts_open`, `member_accounts_open_with_balances` for an
import); `ledger_breaches` checks every invariant.
"""

from .accounts import (
    Kind,
    MemberAccounts,
    OpeningBalances,
    card_accounts_lock,
    member_accounts_lock,
    member_accounts_open,
    member_accounts_open_with_balances,
    system_account,
    system_account_cache_clear,
)
from .bulk_posting import lots_debit_whole, pending_lots_release
from .check import ledger_breaches
from .posting import Code, available_credit, lots_fifo_take, transfer_post

__all__ = [
    "Code",
    "Kind",
    "MemberAccounts",
    "OpeningBalances",
    "available_credit",
    "card_accounts_lock",
    "ledger_breaches",
    "lots_debit_whole",
    "lots_fifo_take",
    "member_accounts_lock",
    "member_accounts_open",
    "member_accounts_open_with_balances",
    "pending_lots_release",
    "system_account",
    "system_account_cache_clear",
    "transfer_post",
]
