"""Card and voucher codes as inline SVG: an EAN-13 or Code 128 barcode and a QR code."""

import io

import barcode
import segno
from barcode.writer import SVGWriter
from django.utils.safestring import SafeString, mark_safe

_BARCODE_OPTIONS = {"module_height": 14, "font_size": 6, "text_distance": 3, "quiet_zone": 3}


def _inline(svg: bytes) -> SafeString:
    # Drop the XML prolog and doctype so the SVG can sit inside the page; the
    # markup is generated from digits and our own code alphabet only.
    text = svg.decode()
    return mark_safe(text[text.index("<svg") :])  # noqa: S308


def barcode_svg(value: str) -> SafeString:
    """EAN-13 for a card number (13 digits), Code 128 for anything else (a voucher code)."""
    symbology = barcode.EAN13 if value.isdigit() and len(value) == 13 else barcode.Code128
    out = io.BytesIO()
    symbology(value, writer=SVGWriter()).write(out, options=_BARCODE_OPTIONS)
    return _inline(out.getvalue())


def qr_svg(value: str) -> SafeString:
    return mark_safe(segno.make(value, error="m").svg_inline(scale=5, title=value))  # noqa: S308
