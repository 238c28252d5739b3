"""The servers `make bench` starts boot on production's settings (a setting production came to require once
broke every page figure)."""

import secrets
import urllib.request

from benchmarks import processes


def test_the_benchmark_server_boots_on_production_settings_and_serves_the_trivial_view(tmp_path, settings):
    # As `python -m benchmarks` does: production's settings refuse a development key.
    settings.SECRET_KEY = "bench-" + secrets.token_urlsafe(48)
    log = tmp_path / "gunicorn.log"
    with processes.gunicorn(workers=1, log=log) as base:
        with urllib.request.urlopen(f"{base}/bench/trivial/", timeout=10) as response:
            assert response.status == 200
    assert "Traceback" not in log.read_text()
