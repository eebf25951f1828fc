"""The members app's admin, one module per task:

- access: staff and user accounts, their roles (groups) and sign-in emails, and the
  audit trail of what staff changed in the admin;
- members: the member list and page (the data-quality filter, exports, bulk points and
  segment actions; the page's tier floor, points adjustment and personal offer) and
  segments;
- cards: cards (block, export), batches of blank cards and their numbers for the print
  shop, and the card confirmations a till or a key asked for;
- card_imports: a legacy card base uploaded, checked, confirmed and reported on;
- cashiers: cashiers and the till's audit trail;
- reports: the cashier KPIs and data quality reports.
"""

# Django's autodiscovery imports this package only: importing the modules registers
# their admins.
from . import access, card_imports, cards, cashiers, members, reports

__all__ = ["access", "card_imports", "cards", "cashiers", "members", "reports"]
