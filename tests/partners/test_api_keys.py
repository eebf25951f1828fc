import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from partners.models import ApiKey
from partners.services import api_key_create, api_key_revoke
from tests.factories import OutletFactory, PartnerFactory
from tests.schema_check import APIClient

pytestmark = pytest.mark.django_db

LOOKUP = "/api/v1/members/lookup/?phone=%2B79123456789"


def client_with(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_key_is_stored_hashed(operator):
    raw = api_key_create(partner=operator)
    prefix, secret = raw.split(".", 1)
    stored = ApiKey.objects.get(prefix=prefix)
    assert secret not in stored.secret_hash
    assert len(stored.secret_hash) == 64


@pytest.mark.parametrize(
    "header", ["", "Api-Key", "Api-Key nonsense", "Api-Key abc.def", "Bearer abc.def"]
)
def test_missing_or_wrong_key_is_401(operator, header):
    response = client_with(header).get(LOOKUP)
    assert response.status_code == 401
    assert response.json()["error"] in {"not_authenticated", "authentication_failed"}


def test_a_right_prefix_with_a_wrong_secret_is_401(operator):
    prefix = api_key_create(partner=operator).split(".")[0]
    assert client_with(f"Api-Key {prefix}.wrong").get(LOOKUP).status_code == 401


def test_revoked_key_is_refused_on_its_next_request(operator):
    raw = api_key_create(partner=operator)
    client = client_with(f"Api-Key {raw}")
    assert client.get(LOOKUP).status_code == 404  # authenticated, nobody found
    api_key_revoke(key=ApiKey.objects.get(prefix=raw.split(".")[0]))
    assert client.get(LOOKUP).status_code == 401


def test_suspended_partner_keys_stop_working(operator):
    partner = PartnerFactory()
    client = client_with(f"Api-Key {api_key_create(partner=partner)}")
    partner.status = "suspended"
    partner.save()
    assert client.get(LOOKUP).status_code == 401


def test_outlet_must_belong_to_the_partner(operator):
    with pytest.raises(ValueError, match="another partner"):
        api_key_create(partner=operator, outlet=OutletFactory())


def test_create_api_key_command_prints_a_working_key(operator, capsys):
    call_command("create_api_key", "--partner", "main")
    raw = capsys.readouterr().out.strip()
    assert client_with(f"Api-Key {raw}").get(LOOKUP).status_code == 404


def test_create_api_key_command_rejects_unknown_partner(db):
    with pytest.raises(CommandError, match="Unknown partner"):
        call_command("create_api_key", "--partner", "nope")
