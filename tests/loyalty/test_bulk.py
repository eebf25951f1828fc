"""Inserts whose references are checked once for all rows, not one trigger per row."""

import pytest
from django.db import IntegrityError, connection

from loyalty.bulk import Column, references_checked
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def replication_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        return cursor.fetchone()[0]


def test_a_missing_reference_refuses_the_block(operator):
    member = MemberFactory()
    references = [("members_member", [member.pk, member.pk + 10**9])]
    with (
        connection.cursor() as cursor,
        pytest.raises(IntegrityError, match="2 rows referenced"),
        references_checked(cursor, references),
    ):
        pass
    assert replication_role() == "origin"


def test_the_row_triggers_are_off_only_inside_the_block(operator):
    member = MemberFactory()
    with (
        connection.cursor() as cursor,
        references_checked(cursor, [("members_member", [member.pk])]),
    ):
        assert replication_role() == "replica"  # the tests' role is a superuser
    assert replication_role() == "origin"


def test_a_nested_block_does_not_check_again_what_its_outer_block_checked(operator):
    MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE fresh AS SELECT id AS member_id FROM members_member")
        members = Column("fresh", "member_id")
        with references_checked(cursor, [("members_member", members)]):
            cursor.execute("INSERT INTO fresh VALUES (%s)", [10**9])  # would fail a check now
            with references_checked(cursor, [("members_member", members)]):
                assert replication_role() == "replica"
            assert replication_role() == "replica"  # the outer block's, still
        again = [("members_member", members)]
        with pytest.raises(IntegrityError), references_checked(cursor, again):
            pass


def test_only_plain_names_make_a_column():
    with pytest.raises(ValueError, match="not a plain name"):
        Column("fresh; DROP TABLE members_member", "member_id")


def test_rows_the_block_inserts_from_the_column_are_not_looked_up(operator):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE fresh AS SELECT -1::bigint AS member_id")
        # No member -1 exists yet: looked up, the block would refuse it; said to be
        # inserted by the block itself, it is taken as it is.
        looked_up = Column("fresh", "member_id")
        with (
            pytest.raises(IntegrityError),
            references_checked(cursor, [("members_member", looked_up)]),
        ):
            pass
        made = Column("fresh", "member_id", inserted_here=True)
        with references_checked(cursor, [("members_member", made)]):
            assert replication_role() == "replica"
