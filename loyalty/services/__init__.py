"""The operations of a till or a partner, one module each: purchases, refunds, bonuses."""
