"""Users' recent behaviour sequences: Redis in production, an in-process store as the embedded default.

Both keep, per user, the newest `max_len` ad ids (strings) in arrival order and forget a user after
`ttl_s` seconds without events. Tests run one contract against both.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Iterable


class BehaviorStore:
    def append(self, events: Iterable[tuple[str, str]]) -> int:
        raise NotImplementedError

    def recent(self, user_id: str) -> list[str]:
        raise NotImplementedError


# The in-process store's global bound: at most this many users (each with at most max_len events) are
# kept; the least recently written user is forgotten first, so no caller can grow serving without bound.
DEFAULT_MAX_USERS = 100_000


class InMemoryBehaviorStore(BehaviorStore):
    def __init__(self, max_len: int = 50, ttl_s: float = 7 * 86400, max_users: int = DEFAULT_MAX_USERS):
        self.max_len, self.ttl_s, self.max_users = max_len, ttl_s, max_users
        self._seqs: OrderedDict[str, tuple[deque, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def append(self, events) -> int:
        n, now = 0, time.time()
        with self._lock:
            for user, item in events:
                seq, expires = self._seqs.get(user, (None, 0.0))
                if seq is None or expires < now:
                    seq = deque(maxlen=self.max_len)
                seq.append(str(item))
                self._seqs[user] = (seq, now + self.ttl_s)
                self._seqs.move_to_end(user)
                n += 1
            while len(self._seqs) > self.max_users:
                self._seqs.popitem(last=False)
                self.evicted += 1
        return n

    def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._seqs)

    def recent(self, user_id: str) -> list[str]:
        with self._lock:
            seq, expires = self._seqs.get(user_id, (None, 0.0))
            if seq is None or expires < time.time():
                self._seqs.pop(user_id, None)
                return []
            return list(seq)


class RedisBehaviorStore(BehaviorStore):
    def __init__(self, url: str, max_len: int = 50, ttl_s: float = 7 * 86400, prefix: str = "fedads:seq:"):
        import redis

        self.client = redis.Redis.from_url(url)
        self.client.ping()  # fail at start-up, not on the first request
        self.max_len, self.ttl_s, self.prefix = max_len, int(ttl_s), prefix

    def append(self, events) -> int:
        pipe = self.client.pipeline(transaction=True)
        touched, n = set(), 0
        for user, item in events:
            pipe.rpush(self.prefix + user, str(item))
            touched.add(user)
            n += 1
        for user in touched:
            pipe.ltrim(self.prefix + user, -self.max_len, -1)
            pipe.expire(self.prefix + user, self.ttl_s)
        pipe.execute()
        return n

    def recent(self, user_id: str) -> list[str]:
        return [x.decode() for x in self.client.lrange(self.prefix + user_id, -self.max_len, -1)]

    def ping(self) -> bool:
        return bool(self.client.ping())


def open_store(redis_url: str, max_len: int, ttl_s: float, max_users: int = DEFAULT_MAX_USERS) -> BehaviorStore:
    if redis_url:
        return RedisBehaviorStore(redis_url, max_len, ttl_s)  # bounded by Redis maxmemory (docs/trust.md)
    return InMemoryBehaviorStore(max_len, ttl_s, max_users)
