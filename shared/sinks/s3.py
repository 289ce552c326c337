"""The s3 sink: the run report as JSON and Markdown in `bucket` under `prefix`, with boto3.

Objects: `<prefix>/<namespace>/<workflow>/<run id>.json` and `.md`. Each put is
conditional (`If-None-Match: *`), so a redelivery, or the sweep resending after a crash,
never overwrites a report already stored: the remote's answer 412 counts as delivered.
`endpoint` points at an S3-compatible store (MinIO, Ceph, moto); `region` defaults to
us-east-1. `credentialsSecret` names a Secret with `accessKeyId` and `secretAccessKey`
(and optionally `sessionToken`); without it boto3's default chain (an IAM role for the
service account, the environment) is used.

boto3 is synchronous: each put runs in a worker thread with the sink's timeout as its
connect and read timeouts, and no retries of its own (the broker retries).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from ..errors import PermanentError, Unavailable
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, check_http_url, run_url, secret_field
from .report import report_json, report_markdown


class S3Params(Params):
    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    endpoint: str | None = None
    credentials_secret: str | None = None

    _creds = secret_field("credentials_secret")


def _put(client: Any, bucket: str, key: str, body: bytes, content_type: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(exc.response.get("Error", {}).get("Code") or "")
        if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return "kept"
        detail = f"s3 put {bucket}/{key} answered {status} {code}"
        if status in (408, 429) or status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling"):
            raise Unavailable(detail) from None
        raise PermanentError(detail) from None
    except BotoCoreError as exc:
        raise Unavailable(f"s3 put {bucket}/{key} failed: {type(exc).__name__}") from None
    return "stored"


class S3Sink:
    type: ClassVar[Any] = SinkType.S3
    params: ClassVar[type[Params]] = S3Params
    idempotent: ClassVar[bool] = True

    def check(self, params: S3Params) -> None:
        if params.endpoint is not None:
            check_http_url(params.endpoint, "endpoint")

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: S3Params = delivery.params
        if delivery.approval:
            return "approval requests are not stored"
        creds: dict[str, str] = {}
        if p.credentials_secret:
            data = await ports.secrets.all_keys(p.credentials_secret, field="config.credentialsSecret")
            if not data.get("accessKeyId") or not data.get("secretAccessKey"):
                raise PermanentError(f"config.credentialsSecret: Secret {p.credentials_secret} needs keys "
                                     "accessKeyId and secretAccessKey")
            creds = {"aws_access_key_id": data["accessKeyId"], "aws_secret_access_key": data["secretAccessKey"]}
            if data.get("sessionToken"):
                creds["aws_session_token"] = data["sessionToken"]
        run = delivery.run
        link = run_url(ports.settings, run.id)
        base = "/".join(x for x in (p.prefix.strip("/"), run.namespace, run.workflow_name, run.id) if x)
        objects = [(f"{base}.json", json.dumps(report_json(run, link=link), indent=2).encode(), "application/json"),
                   (f"{base}.md", report_markdown(run, link=link).encode(), "text/markdown; charset=utf-8")]

        def put_all() -> list[str]:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", region_name=p.region, endpoint_url=p.endpoint, config=Config(
                connect_timeout=p.timeout_seconds, read_timeout=p.timeout_seconds,
                retries={"max_attempts": 1, "mode": "standard"}), **creds)
            return [_put(client, p.bucket, key, body, ctype) for key, body, ctype in objects]

        outcomes = await asyncio.to_thread(put_all)
        return f"s3://{p.bucket}/{base}.json and .md ({', '.join(outcomes)})"
