"""The API's writes: the pages' services with their rules; a refusal is 422 with the service's reason, nothing changed."""

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from competencies.invitations import InvitationError, MemberRemovalError, invitation_send, member_remove
from competencies.models import Association
from memberships import services
from memberships.models import Benefit

from . import serializers as s
from .problems import Refused
from .views import InvitationList, api_organization, redemption_row


def _own_organization(request):
    """Writes act for the token's own organization; a staff token writes nothing here (404)."""
    organization = api_organization(request)
    if request.auth.organization is None:
        raise Http404
    return organization


class Invitations(InvitationList):
    """The pending invitations (GET); invite someone by email (POST: the People page's rule)."""

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def post(self, request):
        """Invite someone by email: a pending invitation is renewed, a current member is refused."""
        organization = _own_organization(request)
        body = s.InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                invitation = invitation_send(organization=organization, email=body.validated_data["email"],
                                             invited_by=request.user, day=timezone.localdate())
        except InvitationError as exc:
            raise Refused(str(exc)) from None
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class PersonEnd(generics.GenericAPIView):
    """End a person's association today (the People page's "Remove"): from today they count for no one."""

    serializer_class = None

    @extend_schema(request=None, responses={204: None})
    def post(self, request, pk: int):
        organization = _own_organization(request)
        today = timezone.localdate()
        association = get_object_or_404(
            Association.objects.select_related("employee").exclude(ends_on__lte=today),
            employee_id=pk, organization=organization, starts_on__lte=today,
        )
        try:
            with transaction.atomic():
                member_remove(organization=organization, employee=association.employee, by=request.user, day=today)
        except MemberRemovalError as exc:
            raise Refused(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class BenefitRedeem(generics.GenericAPIView):
    """Redeem one unit of an offer the organization is entitled to; the answer carries the activation code."""

    serializer_class = None

    @extend_schema(request=None, responses={201: s.RedemptionSerializer})
    def post(self, request, slug: str):
        organization = _own_organization(request)
        benefit = get_object_or_404(Benefit, slug=slug)
        try:
            redemption = services.benefit_redeem(organization=organization, benefit=benefit, by=request.user,
                                                 day=timezone.localdate())
        except services.Refused as exc:
            raise Refused(str(exc)) from None
        return Response(s.RedemptionSerializer(redemption_row(redemption)).data, status=status.HTTP_201_CREATED)
