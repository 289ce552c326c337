"""The dev broker's settings and its command line (`python -m cutman.runtime.broker`).

One frozen BrokerSettings carries everything the ingress and the workers need at start;
`parse_args` builds it from flags, falling back to REDIS_URL and CUTMAN_ADDRESSABLES.
Kept apart from `broker.py` so that the ingress and the workers can take the settings
without importing the module that wires them together.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cutman.runtime.delivery import BackoffPolicy, DeliveryPolicy, parse_duration

DEFAULT_BROKER = "default/default"
DEFAULT_PORT = 8090
DEFAULT_CONSUMER = "dev-broker"
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class BrokerSettings:
    """Everything the dev broker needs at start; `brokers` are `namespace/name`."""

    redis_url: str
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    brokers: tuple[str, ...] = (DEFAULT_BROKER,)
    addressables: Mapping[str, str] = field(default_factory=dict)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    max_inflight: int = 100
    consumer: str = DEFAULT_CONSUMER
    claim_idle: float = 300.0
    claim_interval: float = 30.0
    max_body: int = MAX_BODY


def parse_args(argv: Sequence[str] | None = None) -> BrokerSettings:
    """Command-line flags, falling back to REDIS_URL and CUTMAN_ADDRESSABLES."""
    defaults = DeliveryPolicy()
    p = argparse.ArgumentParser(
        prog="python -m cutman.runtime.broker",
        description="cutman dev broker (Knative Broker stand-in)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    p.add_argument(
        "--addressables",
        default=os.environ.get("CUTMAN_ADDRESSABLES", "{}"),
        help="JSON map of Knative Service name (or ns/name) to base URL",
    )
    p.add_argument(
        "--broker",
        action="append",
        dest="brokers",
        metavar="NAMESPACE/NAME",
        help=f"a broker to serve (repeatable; default {DEFAULT_BROKER})",
    )
    p.add_argument("--retry", type=int, default=defaults.retry)
    p.add_argument(
        "--backoff-policy",
        choices=[b.value for b in BackoffPolicy],
        default=defaults.backoff_policy.value,
    )
    p.add_argument("--backoff-delay", default="PT0.2S", help="ISO-8601 duration")
    p.add_argument("--timeout", default="PT10M", help="ISO-8601 duration per attempt")
    p.add_argument("--max-backoff", default="PT30S", help="ISO-8601 cap on one backoff delay")
    p.add_argument("--dead-letter-uri", help="broker-wide dead-letter sink URL")
    p.add_argument("--max-inflight", type=int, default=100)
    p.add_argument("--consumer", default=DEFAULT_CONSUMER, help="stable Redis consumer name")
    args = p.parse_args(argv)
    if not args.redis_url:
        p.error("--redis-url or REDIS_URL is required")
    try:
        addressables = json.loads(args.addressables)
        delivery = DeliveryPolicy(
            retry=args.retry,
            backoff_policy=BackoffPolicy(args.backoff_policy),
            backoff_delay=parse_duration(args.backoff_delay),
            timeout=parse_duration(args.timeout),
            max_backoff=parse_duration(args.max_backoff),
            dead_letter_sink={"uri": args.dead_letter_uri} if args.dead_letter_uri else None,
        )
    except ValueError as exc:
        p.error(str(exc))
    if not isinstance(addressables, dict) or not all(
        isinstance(v, str) for v in addressables.values()
    ):
        p.error("--addressables must be a JSON object of name -> URL")
    brokers = tuple(args.brokers or [DEFAULT_BROKER])
    for b in brokers:
        if b.count("/") != 1 or not all(b.split("/")):
            p.error(f"--broker {b!r} must be namespace/name")
    return BrokerSettings(
        redis_url=args.redis_url,
        port=args.port,
        host=args.host,
        brokers=brokers,
        addressables=addressables,
        delivery=delivery,
        max_inflight=args.max_inflight,
        consumer=args.consumer,
    )
