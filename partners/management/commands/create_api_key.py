from django.core.management.base import BaseCommand, CommandError

from partners.models import Outlet, Partner
from partners.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a partner (optionally one outlet) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="Partner code, e.g. main")
        parser.add_argument("--outlet", help="Outlet code within the partner")
        parser.add_argument("--name", default="", help="A label shown in the admin")

    def handle(self, *args, partner: str, outlet: str | None, name: str, **options):
        try:
            partner_row = Partner.objects.get(code=partner)
        except Partner.DoesNotExist:
            raise CommandError(f"Unknown partner code: {partner!r}") from None
        outlet_row = None
        if outlet:
            try:
                outlet_row = Outlet.objects.get(partner=partner_row, code=outlet)
            except Outlet.DoesNotExist:
                raise CommandError(f"Partner {partner!r} has no outlet {outlet!r}") from None
        key = api_key_create(partner=partner_row, outlet=outlet_row, name=name)
        self.stdout.write(key)
        self.stderr.write("Store this key now: it is not shown again.")
