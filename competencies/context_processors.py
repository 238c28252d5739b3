from .selectors import organization_of


def organization(request):
    """The signed-in employee's organization, for the layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_organization": None}
    return {"current_organization": organization_of(user)}
