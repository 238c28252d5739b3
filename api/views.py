"""The API's reads: an access check (the token's organization), a selector of the apps, a serializer. Thin."""

import datetime

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response

from competencies.models import Competency, Level, Organization
from competencies.selectors import invitations_sent
from memberships.benefits import entitlements
from memberships.eligibility import membership_state
from memberships.models import Order, Redemption
from memberships.terms import grace_ends_on, renewal_opens_on
from memberships.wording import dashboard_notifications

from . import selectors
from . import serializers as s
from .auth import request_token
from .pagination import IdCursorPagination, ListCursorPagination

ORGANIZATION_PARAMETER = OpenApiParameter(
    "organization", str, description="Agents' staff tokens only: the MPN ID of the organization to read."
)


def api_organization(request) -> Organization:
    """The organization a call reads: the token's own. A staff token names one with `?organization=<MPN ID>`.

    An organization token that names another organization gets 404, as any other organization's row does.
    """
    token = request_token(request)
    named = request.query_params.get("organization")
    if token.organization is not None:
        if named is not None and named != token.organization.mpn_id:
            raise Http404
        return token.organization
    if not named:
        raise exceptions.ValidationError({"organization": [_("A staff token names the organization to read.")]})
    organization = selectors.organization_by_mpn(named)
    if organization is None:
        raise Http404
    return organization


@extend_schema(exclude=True)
class NoSuchRoute(generics.GenericAPIView):
    """Anything else under /api/v1/: a problem document (404), not the dashboard's HTML page."""

    def dispatch(self, request, *args, **kwargs):
        self.http_method_names = [m for m in self.http_method_names if m != "options"]
        return super().dispatch(request, *args, **kwargs)

    def _missing(self, request, *args, **kwargs):
        raise Http404

    get = post = put = patch = delete = head = _missing


class OrganizationView(generics.GenericAPIView):
    serializer_class = s.OrganizationSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER], operation_id="organization_read")
    def get(self, request):
        return Response(self.get_serializer(api_organization(request)).data)


class CompetencyFilter(serializers.Serializer):
    level = serializers.ChoiceField(Level.values, required=False, help_text="Only competencies at this effective level.")
    center = serializers.SlugField(required=False, help_text="Only this Center of Excellence (its slug).")


def listed_with(*filters):
    """A list's schema: the organization parameter and the list's filters, on GET (a subclass may add a POST)."""
    return extend_schema_view(get=extend_schema(parameters=[ORGANIZATION_PARAMETER, *filters]))


class OrganizationList(generics.ListAPIView):
    # A page of the calling organization's rows: `rows` finds them (with the query string's `filters`, when the
    # list has any), `row` turns each one of the page into what the serializer reads.

    filters: type[serializers.Serializer] | None = None
    pagination_class = ListCursorPagination

    def get_queryset(self):
        found = {}
        if self.filters is not None:
            query = self.filters(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            found = query.validated_data
        return self.rows(api_organization(self.request), **found)

    def rows(self, organization: Organization, **filters):
        raise NotImplementedError

    def row(self, found):
        return found

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer([self.row(found) for found in page], many=True).data)


@listed_with(CompetencyFilter)
class CompetencyList(OrganizationList):
    serializer_class = s.CompetencySerializer
    filters = CompetencyFilter

    def rows(self, organization, level="", center=""):
        return selectors.competency_rows(organization, day=timezone.localdate(), level=level, center=center)


class CompetencyDetail(generics.GenericAPIView):
    serializer_class = s.CompetencyDetailSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER])
    def get(self, request, slug):
        organization = api_organization(request)
        competency = get_object_or_404(Competency.objects.select_related("center"), slug=slug)
        return Response(self.get_serializer(
            selectors.competency_detail(organization, competency, day=timezone.localdate())
        ).data)


class HistoryFilter(serializers.Serializer):
    competency = serializers.SlugField(required=False, help_text="Only this competency (its slug).")
    since = serializers.DateField(required=False, help_text="Only changes on or after this day.")


@listed_with(HistoryFilter)
class HistoryList(OrganizationList):
    """Every recorded change of an evaluated or effective level, newest first."""

    serializer_class = s.HistorySerializer
    pagination_class = IdCursorPagination
    filters = HistoryFilter
    rows = staticmethod(selectors.history)
    row = staticmethod(selectors.history_row)


class PeopleFilter(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=200, help_text="Part of a name or an email.")


@listed_with(PeopleFilter)
class PeopleList(OrganizationList):
    """Everyone who counts for the organization today, their valid credentials and the competencies they count toward."""

    serializer_class = s.PersonSerializer
    filters = PeopleFilter

    def rows(self, organization, search=""):
        return selectors.people_rows(organization, day=timezone.localdate(), search=search)


class PersonDetail(generics.GenericAPIView):
    serializer_class = s.PersonSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER])
    def get(self, request, pk: int):
        rows = selectors.people_rows(api_organization(request), day=timezone.localdate())
        row = next((r for r in rows if r["id"] == pk), None)
        if row is None:
            raise Http404
        return Response(self.get_serializer(row).data)


@listed_with()
class InvitationList(OrganizationList):
    """The organization's pending invitations, newest first."""

    serializer_class = s.InvitationSerializer
    rows = staticmethod(invitations_sent)


def term_row(term) -> dict | None:
    if term is None:
        return None
    return {"level": term.level, "starts_on": term.starts_on, "ends_on": term.ends_on, "source": term.source}


class MembershipView(generics.GenericAPIView):
    """The membership on the day: the active and latest terms, grace, the renewal window, what qualifies."""

    serializer_class = s.MembershipSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER], operation_id="membership_read")
    def get(self, request):
        day = timezone.localdate()
        state = membership_state(api_organization(request), day=day)
        latest = state.latest
        renewal = None
        if latest is not None:
            opens, grace_ends = renewal_opens_on(latest), grace_ends_on(latest)
            renewal = {"opens_on": opens, "last_day": grace_ends - datetime.timedelta(days=1),
                       "open": opens <= day < grace_ends}
        return Response(self.get_serializer({
            "active": term_row(state.active),
            "latest": term_row(latest),
            "in_grace": state.in_grace,
            "renewal": renewal,
            "qualifications": [{"level": q.level, "met": q.met, "text": q.words()} for q in state.qualifications.values()],
        }).data)


class OrderFilter(serializers.Serializer):
    kind = serializers.ChoiceField(Order.Kind.values, required=False)
    status = serializers.ChoiceField(Order.Status.values, required=False)


def order_row(order: Order) -> dict:
    return {"id": order.pk, "kind": order.kind, "level": order.level, "benefit": order.benefit.slug if order.benefit else None,
            "amount_usd": order.amount_usd, "status": order.status, "day": order.day, "paid_at": order.paid_at,
            "reference": order.reference}


@listed_with(OrderFilter)
class OrderList(OrganizationList):
    serializer_class = s.OrderSerializer
    pagination_class = IdCursorPagination
    filters = OrderFilter
    row = staticmethod(order_row)

    def rows(self, organization, **filters):
        return Order.objects.filter(organization=organization, **filters).select_related("benefit")


class OrderDetail(generics.GenericAPIView):
    serializer_class = s.OrderSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER])
    def get(self, request, pk: int):
        order = get_object_or_404(Order.objects.select_related("benefit"), pk=pk, organization=api_organization(request))
        return Response(self.get_serializer(order_row(order)).data)


class BenefitsView(generics.GenericAPIView):
    """The offers the organization is entitled to today, with what it redeemed of them this term."""

    serializer_class = s.BenefitsSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER], operation_id="benefits_read")
    def get(self, request):
        found = entitlements(api_organization(request), day=timezone.localdate())
        offers = [{"slug": o.benefit.slug, "name": o.benefit.name, "quantity": o.quantity, "redeemed": o.redeemed,
                   "remaining": o.remaining, "sold": o.sold, "redeemable": o.redeemable} for o in found.offers]
        return Response(self.get_serializer({"term": term_row(found.term), "in_grace": found.in_grace,
                                             "offers": offers}).data)


def redemption_row(redemption: Redemption) -> dict:
    by = redemption.redeemed_by
    return {"id": redemption.pk, "benefit": redemption.benefit.slug, "code": redemption.code, "day": redemption.day,
            "redeemed_by": by.display_name if by else None}


@listed_with()
class RedemptionList(OrganizationList):
    serializer_class = s.RedemptionSerializer
    pagination_class = IdCursorPagination
    row = staticmethod(redemption_row)

    def rows(self, organization):
        return Redemption.objects.filter(organization=organization).select_related("benefit", "redeemed_by")


class RedemptionDetail(generics.GenericAPIView):
    serializer_class = s.RedemptionSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER])
    def get(self, request, pk: int):
        redemption = get_object_or_404(Redemption.objects.select_related("benefit", "redeemed_by"), pk=pk,
                                       organization=api_organization(request))
        return Response(self.get_serializer(redemption_row(redemption)).data)


class NotificationList(generics.GenericAPIView):
    """The open notifications the dashboard shows today, worded in the caller's language (Accept-Language)."""

    serializer_class = s.NotificationSerializer

    @extend_schema(parameters=[ORGANIZATION_PARAMETER], responses=s.NotificationSerializer(many=True))
    def get(self, request):
        banners = dashboard_notifications(api_organization(request), day=timezone.localdate())
        return Response(self.get_serializer(banners, many=True).data)


