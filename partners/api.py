"""Partner API: the partner's monthly settlement statements."""

from typing import Any

from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from web.api import ERROR_RESPONSES, ErrorSerializer

from .authentication import request_api_key
from .models import Statement, StatementLine
from .statement_documents import statement_csv, statement_pdf_response
from .statements import statements_of

FORBIDDEN = {
    403: OpenApiResponse(
        ErrorSerializer,
        description="The key is scoped to one outlet; statements need a partner-wide key.",
    )
}


class StatementLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatementLine
        fields = StatementLine.SHOWN
        extra_kwargs = {
            "is_correction": {"help_text": "A correction of a day of an earlier, closed month."}
        }


class StatementSerializer(serializers.ModelSerializer):
    net_due_from_partner = serializers.DecimalField(
        max_digits=15,
        decimal_places=2,
        help_text="Positive: the partner pays the operator; negative: the operator pays.",
    )

    class Meta:
        model = Statement
        fields = [
            "id",
            "month",
            "status",
            "points_issued",
            "points_reversed",
            "points_redeemed",
            "points_returned",
            "points_unpriced",
            "due_from_partner",
            "due_to_partner",
            "net_due_from_partner",
            "computed_at",
            "closed_at",
        ]


class StatementDetailSerializer(StatementSerializer):
    lines = StatementLineSerializer(many=True)

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "lines"]


class StatementApiView(APIView):
    """Statements are the partner's accounts: keys of a single outlet (a till) see none."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request_api_key(request).outlet_id is not None:
            raise exceptions.PermissionDenied(
                _("Settlement statements need a partner-wide key, not an outlet's.")
            )

    def statement(self, request: Request, statement_id: int) -> Statement:
        statement = (
            statements_of(request_api_key(request).partner)
            .select_related("partner")
            .filter(pk=statement_id)
            .first()
        )
        if statement is None:
            raise exceptions.NotFound()
        return statement


class SettlementListApi(StatementApiView):
    @extend_schema(
        operation_id="settlements_list",
        summary="The partner's monthly statements, newest first",
        description=(
            "Closed statements are final; later changes to their days appear as correction "
            "lines of the next statement closed. The open statement of the current month is "
            "preliminary and recomputed daily."
        ),
        responses={200: StatementSerializer(many=True), **ERROR_RESPONSES, **FORBIDDEN},
    )
    def get(self, request: Request) -> Response:
        statements = statements_of(request_api_key(request).partner)
        return Response(StatementSerializer(statements, many=True).data)


class SettlementDetailApi(StatementApiView):
    @extend_schema(
        operation_id="settlements_detail",
        summary="A statement with its lines: one per day, then the corrections",
        responses={200: StatementDetailSerializer, **ERROR_RESPONSES, **FORBIDDEN},
    )
    def get(self, request: Request, statement_id: int) -> Response:
        # Lines come in their model order: the month's days, then the corrections.
        return Response(StatementDetailSerializer(self.statement(request, statement_id)).data)


class _DocumentView(StatementApiView):
    """The file format is in the path, so errors are always JSON whatever `Accept` says."""

    renderer_classes: list[type[BaseRenderer]] = [JSONRenderer]

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        return JSONRenderer(), JSONRenderer.media_type


class SettlementCsvApi(_DocumentView):
    @extend_schema(
        operation_id="settlements_csv",
        summary="A statement as CSV: a row per day and per correction, then the total",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            **ERROR_RESPONSES,
            **FORBIDDEN,
        },
    )
    def get(self, request: Request, statement_id: int) -> HttpResponseBase:
        return statement_csv(self.statement(request, statement_id))


class SettlementPdfApi(_DocumentView):
    @extend_schema(
        operation_id="settlements_pdf",
        summary="A statement as a printable PDF",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **ERROR_RESPONSES,
            **FORBIDDEN,
        },
    )
    def get(self, request: Request, statement_id: int) -> HttpResponseBase:
        statement = self.statement(request, statement_id)
        return statement_pdf_response(statement)
