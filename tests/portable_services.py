"""Start Beam's job service and an EXTERNAL worker pool on 127.0.0.1 for a test.

Both run as subprocesses of the test, bind to loopback only and are stopped
when the context exits. The worker pool starts SDK workers as processes with
this interpreter (it runs ``python``; PATH is set so that is ours).
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from typing import Iterator, Tuple

JOB_SERVICE = """
from thresher.pipelines.run.loopback import bind_grpc_to_loopback
from thresher.pipelines.run.local_runner_fix import fix_local_runner
bind_grpc_to_loopback()
fix_local_runner()
from apache_beam.runners.portability import local_job_service_main
local_job_service_main.run(["--port", "{port}"])
"""

WORKER_POOL = """
import time
from concurrent import futures
import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_insecure_port("127.0.0.1:{port}")
beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
    BeamFnExternalWorkerPoolServicer(use_process=True), server)
server.start()
server.wait_for_termination(timeout={lifetime})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def job_service_and_worker_pool(lifetime_s: int = 900) -> Iterator[Tuple[str, str]]:
    """Yields (job endpoint, worker pool address, service pids), both services on 127.0.0.1."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    job_port, pool_port = free_port(), free_port()
    procs = []
    try:
        for script, port in ((JOB_SERVICE, job_port), (WORKER_POOL, pool_port)):
            proc = subprocess.Popen([sys.executable, "-c", script.format(port=port, lifetime=lifetime_s)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            procs.append(proc)
            _wait_for_port(port, proc)
        yield f"127.0.0.1:{job_port}", f"127.0.0.1:{pool_port}", [p.pid for p in procs]
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                os.killpg(proc.pid, 9)


_LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def _process_tree(pid: int) -> list:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in pathlib.Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return pids


def listening_addresses(pids) -> list:
    """(hex address, port) of every TCP socket in LISTEN state owned by ``pids`` and their children."""
    inodes = set()
    for pid in pids:
        for child in _process_tree(pid):
            for fd in pathlib.Path(f"/proc/{child}/fd").glob("*"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                address, port = fields[1].split(":")
                found.append((address, int(port, 16)))
    return found


def all_on_loopback(addresses) -> bool:
    return all(address in _LOOPBACK for address, _ in addresses)
