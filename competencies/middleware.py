from django.conf import settings
from django.utils import translation


class EmployeeLanguageMiddleware:
    """A signed-in employee sees the product in their saved language.

    `LocaleMiddleware` (before authentication) has chosen from the language
    cookie (the switcher) and the browser's `Accept-Language`; once the
    employee is known, their saved preference wins. Signed out, or with no
    preference saved, the earlier choice stands.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language in self.languages and language != getattr(request, "LANGUAGE_CODE", None):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
