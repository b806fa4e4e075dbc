"""Django's Redis cache, with one Redis client per connection pool instead of one per operation.

Django's ``RedisCacheClient`` makes a ``redis.Redis`` object for every cache call, and making one
costs about 0.1 ms of CPU here (its response callbacks and locks are set up each time); the
staff API's rate limiter makes two calls per request. A client is safe to share between threads
(it takes a connection from the pool for each command), so one per pool is enough.
"""

from django.core.cache.backends import redis as django_redis


class _SharedClients(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` whose clients are made once per pool."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClients
