"""One counter for every "at most N in a while" rule: the cache counts, per key, within a time window."""

from django.core.cache import cache


def count_once(key: str, *, timeout: int) -> int:
    """Count one more event under `key` (which names its window) and return how many the window holds now."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired or was evicted between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1
