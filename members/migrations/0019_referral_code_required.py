"""Every member has a referral code: the members an import made before codes were drawn
with them get theirs now, 50,000 at a time; then the column is required."""

import secrets

from django.db import migrations, models

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TABLE = bytes.maketrans(
    bytes(range(256)), "".join(ALPHABET[byte % 32] for byte in range(256)).encode()
)
BATCH = 50_000


def _codes_draw(cursor, count):
    """As members.services.referral_codes_draw did when this was written (a migration keeps
    its own copy: the code it ran must not change with the app)."""
    codes = {}
    while len(codes) < count:
        text = secrets.token_bytes(8 * (count - len(codes))).translate(TABLE).decode()
        drawn = [text[i : i + 8] for i in range(0, len(text), 8)]
        cursor.execute(
            "SELECT referral_code FROM members_member WHERE referral_code = ANY(%s)", [drawn]
        )
        taken = {code for (code,) in cursor.fetchall()}
        codes.update((code, None) for code in drawn if code not in taken)
    return list(codes)


def referral_codes_fill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id FROM members_member WHERE referral_code IS NULL ORDER BY id LIMIT %s",
                [BATCH],
            )
            ids = [member_id for (member_id,) in cursor.fetchall()]
            if not ids:
                return
            cursor.execute(
                "UPDATE members_member SET referral_code = drawn.code "
                "FROM unnest(%s::bigint[], %s::text[]) AS drawn(id, code) "
                "WHERE members_member.id = drawn.id",
                [ids, _codes_draw(cursor, len(ids))],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0018_card_claim_per_till"),
    ]

    operations = [
        migrations.RunPython(referral_codes_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="member",
            name="referral_code",
            field=models.CharField(max_length=12, verbose_name="referral code"),
        ),
    ]
