"""Card and voucher codes as inline SVG: an EAN-13 or Code 128 barcode and a QR code."""

import io

import barcode
import segno
from barcode.writer import SVGWriter
from django.utils.safestring import SafeString, mark_safe

# Bars 0.35 mm wide and 18 mm high: about 5 cm across, easy for a till scanner
# to read off a phone screen.
_BARCODE_OPTIONS = {
    "module_width": 0.35,
    "module_height": 18,
    "font_size": 8,
    "text_distance": 4,
    "quiet_zone": 4,
}


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
    # Without a fixed size (a viewBox only), the page's CSS decides how big it is.
    qr = segno.make(value, error="m")
    return mark_safe(qr.svg_inline(scale=5, omitsize=True, title=value))  # noqa: S308
