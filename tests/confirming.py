"""Going through a review (or confirmation) page the way a browser does: GET it, post its form with its token."""

import re

TOKEN = re.compile(r'name="token" value="([^"]*)"')


def token_of(response) -> str:
    found = TOKEN.search(response.content.decode())
    assert found and found.group(1), "the page offers no confirm form"
    return found.group(1)


def confirm(client, url: str, data: dict, query: dict | None = None, **kwargs):
    """GET the review page (with `query`), then POST `data` with the page's one-time token."""
    review = client.get(url, query or {})
    return client.post(url, {**data, "token": token_of(review)}, **kwargs)
