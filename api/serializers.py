"""The shapes the API answers and accepts; the OpenAPI schema is generated from them."""

from rest_framework import serializers

from competencies.models import Level

LEVELS = Level.choices
SLUG_OF = "The {}'s slug."


def end_day(**options) -> serializers.DateField:
    """An end as the product keeps every end: the first day that no longer holds (`start <= D < end`)."""
    return serializers.DateField(help_text="The first day it no longer holds.", **options)


class OrganizationSerializer(serializers.Serializer):
    mpn_id = serializers.CharField(help_text="The Microsoft Partner Network ID.")
    name = serializers.CharField()
    country = serializers.CharField()
    market = serializers.CharField(help_text="developed or developing: which thresholds of a metric apply.")
    website = serializers.CharField()
    public_profile = serializers.BooleanField()


class OverrideSerializer(serializers.Serializer):
    level = serializers.ChoiceField(LEVELS)
    expires_on = end_day()


class CompetencySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    center = serializers.CharField(help_text=SLUG_OF.format("Center of Excellence"))
    evaluated_level = serializers.ChoiceField(LEVELS)
    effective_level = serializers.ChoiceField(LEVELS)
    displayed_level = serializers.ChoiceField(LEVELS, allow_null=True, help_text="Null: not displayed.")
    override = OverrideSerializer(allow_null=True)
    next_level = serializers.ChoiceField(LEVELS, allow_null=True)
    next_level_progress = serializers.FloatField()


class ContributorSerializer(serializers.Serializer):
    employee_id = serializers.IntegerField()
    name = serializers.CharField()
    credentials = serializers.ListField(child=serializers.CharField())


class RequirementSerializer(serializers.Serializer):
    kind = serializers.CharField()
    met = serializers.BooleanField()
    have = serializers.CharField(help_text="A decimal number, as text.")
    need = serializers.CharField(help_text="A decimal number, as text.")
    unit = serializers.CharField(allow_blank=True)
    progress = serializers.FloatField()
    summary = serializers.CharField(allow_blank=True)
    gap = serializers.CharField(allow_blank=True)
    contributors = ContributorSerializer(many=True)


class OptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    level = serializers.ChoiceField(LEVELS)
    met = serializers.BooleanField()
    progress = serializers.FloatField()
    requirements = RequirementSerializer(many=True)


class KeyPersonSerializer(serializers.Serializer):
    employee_id = serializers.IntegerField()
    name = serializers.CharField()
    drops_to_level = serializers.ChoiceField(LEVELS)


class CompetencyDetailSerializer(CompetencySerializer):
    options = OptionSerializer(many=True)
    key_people = KeyPersonSerializer(many=True)


class HistorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    competency = serializers.CharField(help_text=SLUG_OF.format("competency"))
    day = serializers.DateField()
    old_evaluated = serializers.ChoiceField(LEVELS)
    new_evaluated = serializers.ChoiceField(LEVELS)
    old_effective = serializers.ChoiceField(LEVELS)
    new_effective = serializers.ChoiceField(LEVELS)
    cause = serializers.CharField(help_text="A cause code; `cause_text` says it in the caller's language.")
    cause_text = serializers.CharField(allow_blank=True)


class HeldUpSerializer(serializers.Serializer):
    competency = serializers.CharField()
    level = serializers.ChoiceField(LEVELS)
    drops_to = serializers.ChoiceField(LEVELS)


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    since = serializers.DateField()
    is_admin = serializers.BooleanField()
    credentials = serializers.ListField(child=serializers.CharField())
    counts_toward = serializers.ListField(
        child=serializers.CharField(), help_text="The slugs of the competencies they count toward today."
    )
    holds_up = HeldUpSerializer(many=True)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    created_on = serializers.DateField()
    expires_on = end_day()
    state = serializers.CharField()


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class TermSerializer(serializers.Serializer):
    level = serializers.ChoiceField(LEVELS)
    starts_on = serializers.DateField()
    ends_on = end_day()
    source = serializers.CharField()


class RenewalSerializer(serializers.Serializer):
    opens_on = serializers.DateField()
    last_day = serializers.DateField()
    open = serializers.BooleanField()


class QualificationSerializer(serializers.Serializer):
    level = serializers.ChoiceField(LEVELS)
    met = serializers.BooleanField()
    text = serializers.CharField()


class MembershipSerializer(serializers.Serializer):
    active = TermSerializer(allow_null=True)
    latest = TermSerializer(allow_null=True)
    in_grace = serializers.BooleanField()
    renewal = RenewalSerializer(allow_null=True)
    qualifications = QualificationSerializer(many=True)


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    level = serializers.CharField(allow_blank=True)
    benefit = serializers.CharField(allow_null=True, help_text="A paid offer's slug (MAPS); null for a membership.")
    amount_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    status = serializers.CharField()
    day = serializers.DateField()
    paid_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField(allow_blank=True)


class OfferSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField(allow_null=True)
    redeemed = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    sold = serializers.BooleanField()
    redeemable = serializers.BooleanField()


class BenefitsSerializer(serializers.Serializer):
    term = TermSerializer(allow_null=True)
    in_grace = serializers.BooleanField()
    offers = OfferSerializer(many=True)


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    benefit = serializers.CharField(help_text=SLUG_OF.format("offer"))
    code = serializers.CharField(help_text="The activation code the admin uses.")
    day = serializers.DateField()
    redeemed_by = serializers.CharField(allow_null=True)


class NotificationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    text = serializers.CharField()
    lines = serializers.ListField(child=serializers.CharField())
    footer = serializers.CharField(allow_blank=True)
