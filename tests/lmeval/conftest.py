"""Fixtures for the lm-eval tests: the real llama-cpp-python server of
:mod:`tests.served_server` (for the ``seqscore-openai`` backend)."""

from tests.served_server import (  # noqa: F401 (fixtures)
    llama_server_bos,
    llama_server_factory,
)
