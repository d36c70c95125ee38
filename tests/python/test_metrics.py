"""The chatbot's metrics, end to end: the real greenlight binary with fake-llm as its upstream,
a known sequence of chats (answered, failed after a retry, cancelled, refused, rate limited and
drained), then the numbers as Prometheus shows them (parsed by the official `prometheus_client`
parser) and as the EMF records on stdout say (each validated against tests/python/emf.schema.json,
written from CloudWatch's EMF specification, with the `jsonschema` validator)."""

import collections
import json
import math
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import httpx
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, TARGET

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAKE_LLM = os.environ.get("FAKE_LLM_BIN", str(TARGET / "debug" / "fake-llm"))
SCHEMA = json.loads((HERE / "emf.schema.json").read_text())
CATALOGUE = json.loads((ROOT / "docs" / "metrics.json").read_text())
NAMESPACE = "GreenlightTest"
SERVICE = "greenlight-metrics-test"
CHAT, COMPLETIONS = "/api/chat", "/v1/chat/completions"
SECRET_PROMPT = "the secret word is tangerine"
CLEARED = ("HOST", "PORT", "LLM_PROVIDER", "LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY",
           "RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_BURST", "LOG_FORMAT", "RUST_LOG", "METRICS_EMF",
           "METRICS_EMF_INTERVAL_SECONDS", "METRICS_EMF_NAMESPACE", "METRICS_EMF_SERVICE",
           "METRICS_PORT", "DRAIN_SECONDS", "UPSTREAM_MAX_RETRIES")


class Process:
    """A child process whose stdout lines are collected by a thread (so the pipe never fills)."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.new = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self.new.put(line)

    def wait_for(self, marker: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no line with {marker!r} within {seconds} s") from None
            if marker in line:
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _url_after(line: str, marker: str) -> str:
    text = json.loads(line)["message"] if line.startswith("{") else line
    return text.split(marker, 1)[1].strip()


@pytest.fixture(scope="module")
def servers():
    fake = Process([FAKE_LLM])
    greenlight = None
    try:
        fake_url = _url_after(fake.wait_for("listening on http://"), "listening on ")
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update({
            "PORT": "0", "LOG_FORMAT": "json", "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": f"{fake_url}/v1", "LLM_MODEL": "fake-model",
            "UPSTREAM_MAX_RETRIES": "1", "RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "1",
            "DRAIN_SECONDS": "1", "METRICS_EMF": "true", "METRICS_EMF_INTERVAL_SECONDS": "1",
            "METRICS_EMF_NAMESPACE": NAMESPACE, "METRICS_EMF_SERVICE": SERVICE, "METRICS_PORT": "0",
        })
        greenlight = Process([BIN], env=env)
        metrics_url = _url_after(greenlight.wait_for("metrics on http://"), "metrics on ")
        url = _url_after(greenlight.wait_for("listening on http://"), "listening on ")
        yield {"url": url, "metrics": metrics_url, "greenlight": greenlight}
    finally:
        if greenlight is not None:
            greenlight.stop()
        fake.stop()


class Client:
    """Each chat comes from its own address (the ALB's X-Forwarded-For), so the per-client rate
    limit of 1 a minute refuses only the request sent twice on purpose."""

    def __init__(self, url):
        self.http = httpx.Client(base_url=url, timeout=30)
        self.next_address = 1
        self.usage = collections.Counter()

    def address(self) -> str:
        self.next_address += 1
        return f"198.51.100.{self.next_address}"

    def chat_events(self, content, address=None):
        """POSTs /api/chat and yields (event, data) until the stream ends."""
        body = {"messages": [{"role": "user", "content": content}]}
        headers = {"x-forwarded-for": address or self.address()}
        with self.http.stream("POST", CHAT, json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                yield "status", response
                return
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: "):
                    yield event, json.loads(line[len("data: "):])

    def chat(self, content, address=None):
        last = None
        for event, data in self.chat_events(content, address):
            last = (event, data)
            if event == "done":
                self.usage["prompt"] += data["usage"]["prompt_tokens"]
                self.usage["completion"] += data["usage"]["completion_tokens"]
        return last


def _samples(metrics_url):
    text = httpx.get(metrics_url, timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def _value(samples, name, **labels):
    """The sample `name` whose labels include `labels` (the global ones aside), summed."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def _wait_until(check, seconds=15):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_the_numbers_match_a_known_sequence_of_chats(servers):
    url, metrics_url, greenlight = servers["url"], servers["metrics"], servers["greenlight"]
    client = Client(url)

    # /metrics lives on its own port only: the public listener does not serve it.
    assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404

    # Answered: two on /api/chat, one on /v1/chat/completions.
    for _ in range(2):
        assert client.chat(f"hello {SECRET_PROMPT}")[0] == "done"
    completion = client.http.post(COMPLETIONS, headers={"x-forwarded-for": client.address()},
                                  json={"model": "fake-model",
                                        "messages": [{"role": "user", "content": "hi"}]})
    assert completion.status_code == 200, completion.text
    completion_usage = completion.json()["usage"]

    # Failed: the upstream answers 500, the retry too.
    event, data = client.chat("[[500]] fail please")
    assert (event, data["code"]) == ("error", "upstream_error")

    # Cancelled: the client leaves after the first delta of a long answer.
    for event, _ in client.chat_events("[[long]] keep talking"):
        if event == "delta":
            break

    # Refused: an empty message (400), and a second request from one address (429).
    refused = client.http.post(CHAT, headers={"x-forwarded-for": client.address()},
                               json={"messages": [{"role": "user", "content": ""}]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "empty_content")
    assert client.chat("once", address="203.0.113.7")[0] == "done"
    event, response = client.chat("twice", address="203.0.113.7")
    assert (event, response.status_code) == ("status", 429)

    # The cancelled stream is noticed when its next frame cannot be written.
    _wait_until(lambda: _value(_samples(metrics_url)[1], "greenlight_streams_open") == 0)
    text, samples = _samples(metrics_url)
    v = lambda name, **labels: _value(samples, name, **labels)  # noqa: E731

    assert v("greenlight_chats_started_total", route=CHAT) == 5
    assert v("greenlight_chats_started_total", route=COMPLETIONS) == 1
    assert v("greenlight_chats_finished_total", route=CHAT, outcome="ok") == 3
    assert v("greenlight_chats_finished_total", route=CHAT, outcome="error") == 1
    assert v("greenlight_chats_finished_total", route=CHAT, outcome="cancelled") == 1
    assert v("greenlight_chats_finished_total", route=COMPLETIONS, outcome="ok") == 1
    assert v("greenlight_chat_errors_total", route=CHAT, code="upstream_error") == 1
    assert v("greenlight_chat_errors_total", route=CHAT, code="empty_content") == 1
    assert v("greenlight_chat_errors_total", route=CHAT, code="rate_limit_exceeded") == 1
    assert v("greenlight_rate_limited_total", route=CHAT) == 1
    assert v("greenlight_upstream_retries_total") == 1
    # TTFT for every chat that got a first token (the cancelled one too); duration for answers.
    assert v("greenlight_chat_ttft_seconds_count", route=CHAT) == 4
    assert v("greenlight_chat_ttft_seconds_count", route=COMPLETIONS) == 1
    assert v("greenlight_chat_duration_seconds_count", route=CHAT) == 3
    assert v("greenlight_chat_ttft_seconds_bucket", route=CHAT, le="+Inf") == 4
    assert v("greenlight_prompt_tokens_total", route=CHAT) == client.usage["prompt"]
    assert v("greenlight_completion_tokens_total", route=CHAT) == client.usage["completion"]
    assert v("greenlight_prompt_tokens_total", route=COMPLETIONS) == completion_usage["prompt_tokens"]
    assert v("greenlight_streams_open") == 0

    # Every series carries the global labels; none carries prompt text or a client address.
    assert all(dict(ls).get("provider") == "openai" and dict(ls).get("model") == "fake-model"
               and dict(ls).get("version") for (_, ls) in samples)
    for secret in ("tangerine", "198.51.100.", "203.0.113.7", "127.0.0.1"):
        assert secret not in text
    families = {f.name for f in text_string_to_metric_families(text)}
    for metric in CATALOGUE["metrics"]:
        if metric["name"] in ("greenlight_retrieval_seconds", "greenlight_drain_events_total"):
            continue  # offline provider only; during a drain only
        assert metric["name"].removesuffix("_total") in families, metric["name"]

    # Drained: a long answer still streaming when SIGTERM arrives is cut after DRAIN_SECONDS.
    events = []
    reader = threading.Thread(
        target=lambda: events.extend(client.chat_events("[[long]] until the drain")), daemon=True)
    reader.start()
    _wait_until(lambda: any(e == "delta" for e, _ in events))
    greenlight.proc.send_signal(signal.SIGTERM)
    reader.join(timeout=30)
    assert events[-1][0] == "error" and events[-1][1]["code"] == "draining", events[-1]
    assert greenlight.proc.wait(timeout=30) == 0

    check_emf(greenlight.lines, client)


def _emf_records(lines):
    records = []
    for line in lines:
        if '"_aws"' in line:
            records.append(json.loads(line))
    return records


def _validate(record):
    """The spec's structure, plus: every member a directive names is in the root, as a dimension
    value (string) or a metric value."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    required, properties = [], {}
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                required.append(name)
                properties[name] = {"$ref": "#/$defs/dimensionValue"}
        for metric in directive["Metrics"]:
            required.append(metric["Name"])
            properties[metric["Name"]] = {"$ref": "#/$defs/metricValue"}
    schema = dict(SCHEMA, allOf=[{"required": required, "properties": properties}])
    jsonschema.Draft202012Validator(schema).validate(record)


def check_emf(lines, client):
    records = _emf_records(lines)
    assert len(records) >= 2, "flushed every second and once more at exit"
    totals = collections.Counter()
    # The stable set (service, labels but route): what the CDK alarms and scaling read.
    service_totals = collections.Counter()
    histogram_counts = collections.Counter()
    last_streams_open = None
    for record in records:
        _validate(record)
        directive = record["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == NAMESPACE
        dims = directive["Dimensions"][0]
        assert dims[0] == CATALOGUE["serviceDimension"]
        assert dims[1:4] == CATALOGUE["globalDimensions"]
        assert (record["provider"], record["model"]) == ("openai", "fake-model")
        labels = tuple((d, record[d]) for d in dims[4:])
        assert len(directive["Dimensions"]) == 2
        stable = directive["Dimensions"][1]
        assert stable[0] == CATALOGUE["serviceDimension"] and record["service"] == SERVICE
        stable_labels = tuple((d, record[d]) for d in stable[1:])
        for metric in directive["Metrics"]:
            name, value = metric["Name"], record[metric["Name"]]
            spec = next(m for m in CATALOGUE["metrics"] if m["name"] == name)
            assert metric["Unit"] == spec["unit"]
            assert [d for d, _ in labels] == sorted(spec["labels"]), (name, labels)
            assert sorted(dims) == sorted(spec["dimensionSets"][0]), (name, dims)
            assert sorted(stable) == sorted(spec["dimensionSets"][1]), (name, stable)
            if spec["kind"] == "counter":
                totals[(name, labels)] += value
                service_totals[(name, stable_labels)] += value
            elif spec["kind"] == "gauge":
                last_streams_open = value
            else:
                assert sum(value["Counts"]) == value["Count"]
                # Values are rounded to two significant digits: at most 5 % off.
                assert value["Min"] <= min(value["Values"]) * 1.06
                assert max(value["Values"]) <= value["Max"] * 1.06
                assert math.isclose(sum(v * c for v, c in zip(value["Values"], value["Counts"])),
                                    value["Sum"], rel_tol=0.06, abs_tol=1e-6)
                histogram_counts[(name, labels)] += value["Count"]
    for secret in ("tangerine", "198.51.100.", "203.0.113.7"):
        assert all(secret not in json.dumps(r) for r in records)

    def total(name, **labels):
        return totals[(name, tuple(sorted(labels.items())))]

    assert total("greenlight_chats_started_total", route=CHAT) == 6
    assert total("greenlight_chats_started_total", route=COMPLETIONS) == 1
    assert total("greenlight_chats_finished_total", route=CHAT, outcome="ok") == 3
    assert total("greenlight_chats_finished_total", route=CHAT, outcome="error") == 1
    assert total("greenlight_chats_finished_total", route=CHAT, outcome="cancelled") == 1
    assert total("greenlight_chats_finished_total", route=CHAT, outcome="drained") == 1
    assert total("greenlight_chat_errors_total", code="draining", route=CHAT) == 1
    assert total("greenlight_chat_errors_total", code="upstream_error", route=CHAT) == 1
    assert total("greenlight_chat_errors_total", code="empty_content", route=CHAT) == 1
    assert total("greenlight_chat_errors_total", code="rate_limit_exceeded", route=CHAT) == 1
    assert total("greenlight_rate_limited_total", route=CHAT) == 1
    assert total("greenlight_upstream_retries_total") == 1
    assert total("greenlight_drain_events_total", event="started") == 1
    assert total("greenlight_drain_events_total", event="deadline") == 1
    assert total("greenlight_prompt_tokens_total", route=CHAT) == client.usage["prompt"]
    assert total("greenlight_completion_tokens_total", route=CHAT) == client.usage["completion"]
    assert histogram_counts[("greenlight_chat_ttft_seconds", (("route", CHAT),))] == 5
    assert histogram_counts[("greenlight_chat_duration_seconds", (("route", CHAT),))] == 3
    assert last_streams_open == 0
    # Summed over routes in the stable set: the numbers the rollback alarms see.
    assert service_totals[("greenlight_chats_started_total", ())] == 7
    assert service_totals[("greenlight_chats_finished_total", (("outcome", "error"),))] == 1
    assert service_totals[("greenlight_chats_finished_total", (("outcome", "drained"),))] == 1
    assert service_totals[("greenlight_chat_errors_total", (("code", "upstream_error"),))] == 1
