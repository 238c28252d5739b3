"""The sign-in throttle for the test settings: Axes' own check, except for `Client.login()`.

`django.test.Client.login()` authenticates without a request, which Axes
refuses outright; such a sign-in comes from no address, so there is
nothing to throttle. Sign-ins through the page (a request) are checked
exactly as in production (tests/test_signin_throttle.py).
"""

from axes.backends import AxesStandaloneBackend


class AxesUnlessTestClient(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
