"""The Dask worker plugin that loads a run's model once per worker.

Imported only on the Dask path (it needs ``seqscore[dask]``). Registered by
the client for a run, the plugin is set up on every worker -- and on any
worker that joins or restarts later, e.g. after one was killed -- and loads
the model there (:func:`~seqscore.runs.model_tasks.loaded_model`), off the
worker's event loop so that it keeps answering the scheduler meanwhile.
Tasks then find the model loaded; teardown drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

try:
    from distributed import WorkerPlugin
except ImportError:  # no seqscore[dask]: importable (for doctests), not usable
    WorkerPlugin = object  # type: ignore[misc, assignment]

from seqscore.models.loglikelihood import ModelScoring
from seqscore.runs.model_tasks import loaded_model, unload_model

__all__ = ["ModelPlugin", "model_on_workers"]


class ModelPlugin(WorkerPlugin):
    """Load the model ``model`` names when a worker starts; drop it when it
    stops."""

    def __init__(self, model: ModelScoring):
        self.model = model
        self.name = f"seqscore-model-{uuid.uuid4().hex[:8]}"

    async def setup(self, worker):
        await asyncio.get_running_loop().run_in_executor(None, loaded_model, self.model)

    def teardown(self, worker):
        unload_model(self.model)


@contextlib.contextmanager
def model_on_workers(client, model: ModelScoring):
    """The model ``model`` names, loaded on every worker of ``client``'s
    cluster (and on those that join later) for the length of the block, then dropped. A
    worker that cannot load it raises its error here."""
    plugin = ModelPlugin(model)
    try:
        answers = client.register_plugin(plugin, name=plugin.name)
        for answer in (answers or {}).values():
            if isinstance(answer, dict) and answer.get("status") == "error":
                exception = answer.get("exception")
                if isinstance(exception, BaseException):
                    raise exception
                raise RuntimeError(f"a worker could not load the model: {answer}")
        yield
    finally:
        with contextlib.suppress(Exception):  # the cluster may be gone already
            client.unregister_worker_plugin(plugin.name)
