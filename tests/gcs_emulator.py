"""Cloud Storage without the cloud, for the tests that read or write gs://: the ``gcs`` fixture.

gcp-storage-emulator (a dev extra) runs in the test process on 127.0.0.1 (``STORAGE_EMULATOR_HOST``);
google-cloud-storage sends every request there. There are no credentials: Beam's lookup of
Application Default Credentials is marked as done-and-found-nothing, so its clients are anonymous
at once (otherwise Beam retries the lookup for about 20 s before connecting anonymously). A test
module imports the fixture: ``from tests.gcs_emulator import gcs``.
"""
from __future__ import annotations

import logging
import socket

import pytest

BUCKET = "thresher-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs():
    """A bucket on an emulator bound to 127.0.0.1; yields (google.cloud.storage bucket, emulator URL)."""
    emulator = pytest.importorskip("gcp_storage_emulator.server", reason="pip install gcp-storage-emulator (dev extra)")
    from apache_beam.internal.gcp import auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    port = _free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", url)
        patch.setattr(auth._Credentials, "_credentials_init", True)
        patch.setattr(auth._Credentials, "_credentials", None)
        try:
            client = storage.Client(project="test-project", credentials=AnonymousCredentials())
            yield client.create_bucket(BUCKET), url
        finally:
            server.stop()
