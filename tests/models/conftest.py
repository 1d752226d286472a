"""Fixtures for the model tests: a real llama-cpp-python server on the tiny
Llamas of ``fixtures/served/`` (see :mod:`tests.served_server`; they skip
where llama-cpp-python[server] is missing, or fail with
``SEQSCORE_REQUIRE_SERVER=1``)."""

from tests.served_server import (  # noqa: F401 (fixtures)
    llama_server_bos,
    llama_server_factory,
    llama_server_nobos,
)
