"""Keep the gRPC servers Beam starts in this process on the loopback interface.

Beam's FnApiRunner, job service and worker pool open their gRPC ports on
``[::]`` (all interfaces), hard-coded. On a laptop or CI machine nothing
outside should reach them, so the local presets and the tests call
``bind_grpc_to_loopback()``, which maps wildcard addresses to 127.0.0.1.
"""
from __future__ import annotations

_WILDCARDS = ("[::]:", "0.0.0.0:", ":")


def _loopback(address: str) -> str:
    for prefix in _WILDCARDS:
        if address.startswith(prefix):
            return "127.0.0.1:" + address[len(prefix):]
    if address.startswith("localhost:"):
        return "127.0.0.1:" + address[len("localhost:"):]
    return address


def bind_grpc_to_loopback() -> None:
    """Patch grpc's server so ``add_insecure_port("[::]:N")`` binds 127.0.0.1:N. Idempotent."""
    from grpc._server import _Server

    if getattr(_Server.add_insecure_port, "_thresher_loopback", False):
        return
    original = _Server.add_insecure_port

    def add_insecure_port(self, address):
        return original(self, _loopback(address))

    add_insecure_port._thresher_loopback = True
    _Server.add_insecure_port = add_insecure_port
