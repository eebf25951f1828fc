"""A request's fingerprint: what makes two requests the same, for receipts and idempotency
keys alike."""

import hashlib
import json
from decimal import Decimal
from typing import Any


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value.normalize())
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def request_fingerprint(operation: str, **params: Any) -> str:
    """A digest of the request's meaning: `1234.5` and `1234.50` are the same amount."""
    canonical = json.dumps(
        {"operation": operation, **params}, sort_keys=True, default=_json_default
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
