"""Agents through the API: with a staff token they place overrides with the admin's rules, preview and audit."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from competencies.models import Competency, Level, Organization
from competencies.overrides import OverrideError, override_apply, override_preview, override_validate

from .problems import Refused
from .serializers import SLUG_OF, end_day

OVERRIDE_PERMISSION = "competencies.add_override"


class OverrideRequest(serializers.Serializer):
    organization = serializers.CharField(max_length=20, help_text="The organization's MPN ID.")
    competency = serializers.SlugField(help_text=SLUG_OF.format("competency"))
    level = serializers.ChoiceField([Level.SILVER, Level.GOLD])
    reason = serializers.CharField(max_length=4000)
    starts_on = serializers.DateField(required=False, help_text="Today when left out.")
    expires_on = serializers.DateField(required=False, help_text="Three calendar months after the start when left out.")
    preview = serializers.BooleanField(default=False, help_text="True: say what it would do, write nothing.")


class OverridePreviewAnswer(serializers.Serializer):
    evaluated_level = serializers.ChoiceField(Level.choices)
    effective_before = serializers.ChoiceField(Level.choices)
    effective_after = serializers.ChoiceField(Level.choices)
    starts_on = serializers.DateField()
    expires_on = end_day()
    raises = serializers.BooleanField()


class OverrideAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    organization = serializers.CharField(help_text="The organization's MPN ID.")
    competency = serializers.CharField(help_text=SLUG_OF.format("competency"))
    level = serializers.ChoiceField(Level.choices)
    reason = serializers.CharField()
    starts_on = serializers.DateField()
    expires_on = end_day()


class OverridePlace(generics.GenericAPIView):
    """Agents only (a staff write token whose agent may add overrides): preview, then place, an override.

    The admin's rules (a reason, Silver or Gold, ends after it starts and after today, one active per
    organization and competency); the audit row names the token's agent. An organization's token gets 404.
    """

    serializer_class = OverrideRequest

    @extend_schema(request=OverrideRequest, responses={200: OverridePreviewAnswer, 201: OverrideAnswer})
    def post(self, request):
        token = request.auth
        if token.organization is not None:
            raise Http404
        if not (request.user.is_staff and request.user.has_perm(OVERRIDE_PERMISSION)):
            raise exceptions.PermissionDenied(_("Only agents who may place overrides can do this."))
        body = OverrideRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = get_object_or_404(Organization, mpn_id=data["organization"])
        competency = get_object_or_404(Competency, slug=data["competency"])
        day = timezone.localdate()
        starts_on = data.get("starts_on") or day
        try:
            expires_on = override_validate(level=data["level"], reason=data["reason"], starts_on=starts_on,
                                           expires_on=data.get("expires_on"), day=day)
            if data["preview"]:
                preview = override_preview(organization=organization, competency=competency, level=data["level"],
                                           starts_on=starts_on, expires_on=expires_on)
                return Response(OverridePreviewAnswer({**preview.__dict__, "starts_on": starts_on,
                                                       "raises": preview.raises}).data)
            override = override_apply(organization=organization, competency=competency, level=data["level"],
                                      reason=data["reason"], starts_on=starts_on, expires_on=expires_on,
                                      actor=request.user, day=day)
        except OverrideError as exc:
            raise Refused(str(exc)) from None
        return Response(OverrideAnswer({
            "id": override.pk, "organization": organization.mpn_id, "competency": competency.slug,
            "level": override.level, "reason": override.reason, "starts_on": override.starts_on,
            "expires_on": override.expires_on,
        }).data, status=status.HTTP_201_CREATED)
