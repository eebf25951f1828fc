"""What several apps' models share: texts in the program's languages, public files."""

from django.core.files.storage import Storage, storages
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def public_storage() -> Storage:
    """Files anyone may load (settings.STORAGES["public"]), not the private uploads."""
    return storages["public"]


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

    LANGUAGES = ("en", "ru", "pl")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    def _translated(self, field: str) -> str:
        language = (get_language() or "en")[:2]
        order = (language, *(code for code in self.LANGUAGES if code != language))
        for code in order:
            text = getattr(self, f"{field}_{code}", "")
            if text:
                return str(text)
        return ""

    @property
    def name(self) -> str:
        return self._translated("name")

    @property
    def description(self) -> str:
        return self._translated("description")
