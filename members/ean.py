"""EAN-13 card numbers: 12 digits of payload and a check digit."""

import secrets


def ean13_check_digit(first12: str) -> int:
    """The GS1 check digit: weights 1,3,1,3... from the left over 12 digits."""
    total = sum(map(int, first12[0:12:2])) + 3 * sum(map(int, first12[1:12:2]))
    return (10 - total % 10) % 10


def ean13_is_valid(number: str) -> bool:
    return (
        len(number) == 13
        and number.isascii()
        and number.isdigit()
        and ean13_check_digit(number[:12]) == int(number[12])
    )


def ean13_from_serial(prefix: str, serial: int) -> str:
    """The card number for `serial` within a prefix range, check digit included."""
    body_len = 12 - len(prefix)
    if not prefix.isdigit() or body_len < 4:
        raise ValueError("A card prefix is 1 to 8 digits.")
    if not 0 <= serial < 10**body_len:
        raise ValueError(f"Serial {serial} does not fit in {body_len} digits.")
    first12 = f"{prefix}{serial:0{body_len}d}"
    return f"{first12}{ean13_check_digit(first12)}"


def ean13_random(prefix: str) -> str:
    body_len = 12 - len(prefix)
    return ean13_from_serial(prefix, secrets.randbelow(10**body_len))
