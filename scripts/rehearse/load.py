"""Streaming chat clients (asyncio + httpx + httpx-sse), bounded in count and time, loopback only.

Each answer is one `Answer`: which API (`/api/chat` or `/v1/chat/completions`), its HTTP status,
who served it (`X-Served-By`, set by the proxy), time to first token, total time, and how it
ended: `done` (the `done` event or `data: [DONE]`), `error:<code>` (a final error event),
`http:<status>:<code>` (refused before the stream started), `broken` (the stream stopped without
a final event), `cancelled` (the client went away on purpose) or `transport:<what>`.

A 503 whose JSON error code is `draining` is the server's documented "retry, another task will
answer" (README "Statuses"); the client retries it at once, up to `DRAINING_RETRIES` times, and
the answer records how many it took.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import httpx
from httpx_sse import EventSource

DRAINING_RETRIES = 3


def loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to send load to {url}: loopback addresses only")


@dataclass
class Answer:
    api: str
    started: float  # monotonic seconds
    ended: float = 0.0
    status: int = 0
    served_by: str = ""
    ttft_s: float | None = None
    outcome: str = ""
    draining_retries: int = 0
    tokens: int = 0
    tag: str = ""

    @property
    def total_s(self) -> float:
        return self.ended - self.started

    def as_dict(self) -> dict:
        d = asdict(self)
        d["total_s"] = self.total_s
        return d


def chat_request(api: str, prompt: str, max_tokens: int) -> tuple[str, dict]:
    if api == "chat":
        return "/api/chat", {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    return "/v1/chat/completions", {
        "model": "fake-model",
        "stream": True,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
    }


async def _read_stream(response: httpx.Response, api: str, answer: Answer, cancel_after: int | None) -> None:
    async for sse in EventSource(response).aiter_sse():
        if api == "chat":
            if sse.event == "delta":
                answer.tokens += 1
                if answer.ttft_s is None:
                    answer.ttft_s = time.monotonic() - answer.started
            elif sse.event == "done":
                answer.outcome = "done"
                return
            elif sse.event == "error":
                answer.outcome = "error:" + str(json.loads(sse.data).get("code"))
                return
        else:
            if sse.data == "[DONE]":
                answer.outcome = "done"
                return
            chunk = json.loads(sse.data)
            if "error" in chunk:
                answer.outcome = "error:" + str(chunk["error"].get("code"))
                return
            choices = chunk.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                answer.tokens += 1
                if answer.ttft_s is None:
                    answer.ttft_s = time.monotonic() - answer.started
        if cancel_after is not None and answer.tokens >= cancel_after:
            answer.outcome = "cancelled"
            return  # leaving the `async with` closes the connection mid-stream
    answer.outcome = "broken"


async def one_answer(
    client: httpx.AsyncClient,
    base: str,
    api: str,
    prompt: str,
    *,
    max_tokens: int = 256,
    cancel_after: int | None = None,
    tag: str = "",
) -> Answer:
    path, body = chat_request(api, prompt, max_tokens)
    answer = Answer(api=api, started=time.monotonic(), tag=tag)
    for attempt in range(DRAINING_RETRIES + 1):
        try:
            async with client.stream("POST", base + path, json=body) as response:
                answer.status = response.status_code
                answer.served_by = response.headers.get("x-served-by", "")
                if response.status_code != 200:
                    raw = await response.aread()
                    try:
                        code = json.loads(raw)["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        code = ""
                    if response.status_code == 503 and code == "draining" and attempt < DRAINING_RETRIES:
                        answer.draining_retries += 1
                        continue
                    answer.outcome = f"http:{response.status_code}:{code}"
                    break
                await _read_stream(response, api, answer, cancel_after)
                break
        except httpx.HTTPError as e:
            answer.outcome = f"transport:{type(e).__name__}"
            break
    answer.ended = time.monotonic()
    return answer


@dataclass
class Load:
    """`clients` users, each asking one question after another (with a short think time) until
    stopped, `max_answers` were asked in all, or `max_seconds` passed."""

    base: str
    clients: int
    max_seconds: float
    max_answers: int
    think_s: tuple[float, float] = (0.2, 1.0)
    prompt: str = "How does a blue/green deploy keep answers flowing?"
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        loopback_only(self.base)

    async def run(self) -> list[Answer]:
        limits = httpx.Limits(max_connections=self.clients + 16, max_keepalive_connections=self.clients + 16)
        timeout = httpx.Timeout(connect=5, read=120, write=10, pool=30)
        deadline = time.monotonic() + self.max_seconds
        asked = 0

        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

            async def user(i: int) -> None:
                nonlocal asked
                rng = random.Random(i)
                await asyncio.sleep(rng.uniform(0, self.think_s[1]))  # users do not start in step
                n = 0
                while not self.stop.is_set() and time.monotonic() < deadline and asked < self.max_answers:
                    asked += 1
                    api = "chat" if (i + n) % 2 == 0 else "v1"
                    n += 1
                    self.answers.append(await one_answer(client, self.base, api, self.prompt))
                    try:
                        await asyncio.wait_for(self.stop.wait(), rng.uniform(*self.think_s))
                    except asyncio.TimeoutError:
                        pass

            await asyncio.gather(*(user(i) for i in range(self.clients)))
        return self.answers


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def latency(answers: list[Answer]) -> dict:
    ttft = [a.ttft_s * 1000 for a in answers if a.ttft_s is not None]
    total = [a.total_s * 1000 for a in answers if a.outcome == "done"]
    r = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {
        "answers": len(answers),
        "ttft_ms": {"p50": r(percentile(ttft, 50)), "p99": r(percentile(ttft, 99)), "max": r(percentile(ttft, 100))},
        "total_ms": {"p50": r(percentile(total, 50)), "p99": r(percentile(total, 99)), "max": r(percentile(total, 100))},
    }
