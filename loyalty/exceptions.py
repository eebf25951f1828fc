"""Domain errors. The API maps each to an HTTP status with its message."""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    status_code = 400
    default_message = _("The operation was refused.")
    error_code = "refused"
    # The `WWW-Authenticate` scheme a 401 answer names.
    authenticate_header: str | None = None

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = str(message or self.default_message)
        self.field = field
        super().__init__(self.message)


class InvalidRequest(LoyaltyError):
    status_code = 400
    error_code = "invalid"


class NotFound(LoyaltyError):
    status_code = 404
    default_message = _("Not found.")
    error_code = "not_found"


class LookupMiss(NotFound):
    """A card number or a voucher code that names nothing usable. Answered alike whatever
    the reason, and drawn from the API key's lookup budget wherever it happens (in a write
    too), so that numbers cannot be probed for which ones exist."""


class CardNotFound(LookupMiss):
    # Unknown, blank, blocked and lost cards answer the same way.
    default_message = _("Card not found or not active.")
    error_code = "card_not_found"


class Conflict(LoyaltyError):
    status_code = 409
    error_code = "conflict"


class InsufficientPoints(Conflict):
    default_message = _("Not enough points.")
    error_code = "insufficient_points"


class IdempotencyConflict(Conflict):
    default_message = _("This Idempotency-Key was already used with a different request.")
    error_code = "idempotency_conflict"


class ReceiptConflict(Conflict):
    default_message = _("This receipt was already recorded with different data.")
    error_code = "receipt_conflict"
