import factory

from members.ean import ean13_from_serial
from members.models import Card, Member
from members.services import member_create
from partners.models import Outlet, Partner


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")


class OutletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Outlet

    partner = factory.SubFactory(PartnerFactory)
    code = factory.Sequence(lambda n: f"outlet-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")


class MemberFactory(factory.django.DjangoModelFactory):
    """Members are created through the service, so they get their ledger accounts."""

    class Meta:
        model = Member

    phone = factory.Sequence(lambda n: f"+7912{n:07d}")
    full_name = factory.Faker("name")
    source = Member.Source.POS

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return member_create(**kwargs)


class CardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Card

    number = factory.Sequence(lambda n: ean13_from_serial("200", 100000 + n))
    partner = factory.LazyFunction(lambda: PartnerFactory(code="main"))
    member = factory.SubFactory(MemberFactory)
    status = Card.Status.ISSUED
