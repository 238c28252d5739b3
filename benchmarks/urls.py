"""The benchmark server's URL map: the product's, and `/bench/trivial/`, the floor of the page figures."""

from django.http import HttpResponse
from django.urls import path

from partnercenter.urls import urlpatterns as product_urlpatterns


def trivial(request):
    """The least a request through the same server and middleware can cost: no query, no template."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/trivial/", trivial, name="bench-trivial"), *product_urlpatterns]
