"""What several apps' models share: texts in the program's languages, public files."""

from django.core.files.storage import Storage, storages
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def public_storage() -> Storage:
    """Files anyone may load (settings.STORAGES["public"]), not the private uploads."""
    return storages["public"]


# The languages marketers write customer-facing texts in, as `<field>_<code>` columns.
TEXT_LANGUAGES = ("en", "ru", "pl")


def text_in_language(instance: models.Model, field: str, language: str | None = None) -> str:
    """`instance.<field>_<code>` in `language` (by default the active one), else in the
    first language filled in; "" when none is."""
    if language is None:
        language = (get_language() or "en")[:2]
    for code in (language, *(code for code in TEXT_LANGUAGES if code != language)):
        text = getattr(instance, f"{field}_{code}", "")
        if text:
            return str(text)
    return ""


class TranslatedText(models.Model):
    """Name and description in each of the program's languages (ru, en, pl).

    The customer sees the text of their language, or the first one filled in.
    """

    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    name_ru = models.CharField(_("name (Russian)"), max_length=200, blank=True)
    name_pl = models.CharField(_("name (Polish)"), max_length=200, blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ru = models.TextField(_("description (Russian)"), blank=True)
    description_pl = models.TextField(_("description (Polish)"), blank=True)

    LANGUAGES = TEXT_LANGUAGES

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    @property
    def name(self) -> str:
        return text_in_language(self, "name")

    @property
    def description(self) -> str:
        return text_in_language(self, "description")
