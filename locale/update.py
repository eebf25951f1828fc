"""Bring the ru and pl catalogs up to date with the code and templates (`make catalogs`).

Django's makemessages collects the messages (Python and templates) into a template; Babel
merges it into each catalog, keeping every translation, dropping what the code no longer
says and writing lines of up to 100 characters, as the catalogs have always been written.
New messages arrive untranslated: tests/config/test_translations.py lists them.

With a JSON file `{"msgid": {"ru": "...", "pl": "..."}}` (plural messages:
`{"msgid": {"plural": "...", "ru": ["...", "...", "..."], "pl": [...]}}`) the
translations it gives are filled in too.
"""

import io
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["ru", "pl"]
TEMPLATE = ROOT / "locale" / "django.pot"


def template_make() -> None:
    subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--keep-pot",
            "--no-obsolete",
            "--ignore=.venv",
            "--ignore=bench",
            "--ignore=tests",
            "--ignore=staticfiles",
            *[f"--locale={language}" for language in LANGUAGES],
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def catalog_path(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


def catalog_update(
    language: str, catalog: Catalog, template: Catalog, translations: dict
) -> list[str]:
    """Merge the template into the catalog (as read before makemessages rewrote it), fill in
    the given translations, write it; returns the messages still untranslated."""
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in translations and language in translations[key]:
            given = translations[key][language]
            message.string = tuple(given) if isinstance(message.id, tuple) else given
            message.flags.discard("fuzzy")
    with catalog_path(language).open("wb") as handle:
        write_po(handle, catalog, width=100, ignore_obsolete=True, include_lineno=False)
    return [str(m.id) for m in catalog if m.id and (not m.string or not all(_strings(m.string)))]


def _strings(value) -> list[str]:
    return list(value) if isinstance(value, tuple) else [value]


def main() -> None:
    translations = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else {}
    catalogs = {}
    for language in LANGUAGES:  # read first: makemessages rewrites them with msgmerge
        with catalog_path(language).open("rb") as handle:
            catalogs[language] = read_po(handle, locale=language)
    template_make()
    # gettext's placeholder header is not one Babel can read.
    text = TEMPLATE.read_text().replace(
        "nplurals=INTEGER; plural=EXPRESSION", "nplurals=2; plural=(n != 1)"
    )
    TEMPLATE.unlink()
    template = read_po(io.StringIO(text))
    for language in LANGUAGES:
        missing = catalog_update(language, catalogs[language], template, translations)
        for message in missing:
            print(f"{language}: untranslated: {message}")


if __name__ == "__main__":
    main()
