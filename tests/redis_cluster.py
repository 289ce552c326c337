"""A real three-node Redis Cluster on loopback for the store contract tests.

Three `redis-server --cluster-enabled yes` on free ports (no replicas), joined with
`redis-cli --cluster create ... --cluster-yes`; ready once every node reports
`cluster_state:ok`. cutman reaches it as `redis+cluster://127.0.0.1:<port>`, which makes
cutman.adapters.redisbase use redis-py's RedisCluster client.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from cutman.runtime.redis_server import stop_process, wait_for_port


@dataclass
class RedisCluster:
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def flush(self) -> None:
        for port in self.ports:
            client = redis.Redis(port=port)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def start_cluster(root: Path, nodes: int = 3) -> RedisCluster:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert binary and cli, "redis-server and redis-cli come with Debian's redis-server package"
    ports = _cluster_ports(nodes)
    procs = []
    for port in ports:
        data = root / str(port)
        data.mkdir(parents=True)
        procs.append(subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(data / "nodes.conf"), "--cluster-node-timeout", "5000",
             "--dir", str(data), "--save", "", "--appendonly", "no", "--logfile", str(data / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cluster = RedisCluster(procs, ports)
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, proc=proc)
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while not all(_ok(p) for p in ports):
            assert time.monotonic() < deadline, "the Redis Cluster did not reach cluster_state:ok"
            time.sleep(0.2)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free and valid too."""
    out: list[int] = []
    while len(out) < n:
        port = random.randint(20000, 45000)
        if port not in out and all(_free(p) for p in (port, port + 10000)):
            out.append(port)
    return out


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ok(port: int) -> bool:
    client = redis.Redis(port=port, decode_responses=True)
    try:
        return "cluster_state:ok" in str(client.execute_command("CLUSTER", "INFO"))
    finally:
        client.close()
