"""Every member has its three accounts: the members an import made with an available
account only (pending and debt used to come on first use) get the other two now, ids
above the available one's, so each member's ids still ascend available < pending < debt."""

from django.db import migrations

ACCOUNTS_COMPLETE = """
INSERT INTO loyalty_account (kind, member_id, partner_id, balance)
SELECT kind.name, member.id, NULL, 0
FROM members_member member
    CROSS JOIN (VALUES (2, 'pending'), (3, 'debt')) AS kind(position, name)
WHERE NOT EXISTS (
    SELECT 1 FROM loyalty_account account
    WHERE account.member_id = member.id AND account.kind = kind.name
)
ORDER BY member.id, kind.position
"""


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0025_wider_spend_and_revenue_sums"),
        ("members", "0018_card_claim_per_till"),
    ]

    operations = [migrations.RunSQL(ACCOUNTS_COMPLETE, migrations.RunSQL.noop)]
