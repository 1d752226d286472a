"""One forward pass of a Hugging Face model, and its logits as numpy.

:class:`ForwardRunner` is the only code that calls the torch model: scoring
(:mod:`seqscore.models.hf_passes`) and decoding
(:mod:`seqscore.models.hf_decoding`) hand it ids, masks, positions and
caches, and get back tensors or float32 numpy arrays. It knows what the
probes found (:mod:`seqscore.models.hf_probes`): the name of the cache
argument, whether ``logits_to_keep`` is taken, and whether the output layer
may run apart from the base model, on the scored positions only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from seqscore.models._torch import torch
from seqscore.models.hf_probes import ModelTraits
from seqscore.numerics.parallel import map_dealt

__all__ = ["HEAD_SLICE", "ForwardRunner", "apply_head"]

#: Output-layer rows (vocabulary entries) per matrix product when the head
#: is a plain linear layer: a slice of 512 x hidden weights stays in cache
#: while every scored position passes. On GPT-2 small's head (50,257 x 768,
#: 2 threads) one product over the whole vocabulary ran at 29-44 G
#: multiply-adds/s for 64-667 positions, slices of 512 at 44-62.
HEAD_SLICE = 512


class ForwardRunner:
    """Runs the wrapped model's forward passes on its device.

    ``pad_id`` fills right padding (EOS: any id would do, padding is masked
    and never scored)."""

    def __init__(self, model, traits: ModelTraits, pad_id: int):
        self.model = model
        self.config = model.config
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.head = traits.head
        self.pad_id = pad_id
        self._traits = traits

    def forward(
        self,
        ids,
        mask=None,
        *,
        positions=None,
        cache=None,
        keep_last=False,
        use_cache=False,
        head=True,
    ):
        """``(logits, cache)`` of one forward pass; ``(last hidden states,
        cache)`` of the base model when not ``head``."""
        kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": use_cache}
        if mask is not None:
            kwargs["attention_mask"] = mask
        if positions is not None:
            kwargs["position_ids"] = positions
        if cache is not None:
            kwargs[self._traits.cache_argument] = cache
        if keep_last and head and self._traits.keeps_logits:
            kwargs["logits_to_keep"] = 1
        with torch().inference_mode():
            out = (self.model if head else self.model.base_model)(**kwargs)
        states = out.logits if head else out.last_hidden_state
        # read under the name the forward took (the other one warns)
        return states, getattr(out, self._traits.cache_argument, None)

    def states(self, ids, mask=None, *, positions=None, cache=None):
        """What a scoring pass hands on to :meth:`scored_logits`: the last
        hidden states when the head runs apart (only on the positions that
        are scored), else the logits of every position."""
        return self.forward(
            ids, mask, positions=positions, cache=cache, head=self.head is None
        )[0]

    def scored_logits(self, flat_states, positions: list[int]) -> np.ndarray:
        """float32 logits of the rows ``positions`` of ``flat_states``
        (``(rows, hidden or V)``): the head runs here on them alone."""
        index = self.tensor(positions)
        with torch().inference_mode():
            rows = flat_states.index_select(0, index)
            if self.head is not None:
                rows = apply_head(self.head, rows)
            return self.numpy(rows)

    def padded(self, rows: Sequence[Sequence[int]]):
        """Right-padded ids (padding: ``pad_id``, masked) and the attention
        mask, on the device."""
        width = max(len(r) for r in rows)
        long = torch().long
        ids = torch().full((len(rows), width), self.pad_id, dtype=long)
        mask = torch().zeros((len(rows), width), dtype=long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch().tensor(row, dtype=long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    def tensor(self, ids) -> Any:
        """A (nested) list of ids as a long tensor on the device."""
        return torch().tensor(ids, dtype=torch().long, device=self.device)

    def numpy(self, logits) -> np.ndarray:
        """Logits as a float32 numpy array (a view for float32 on the CPU)."""
        if logits.dtype != torch().float32:
            logits = logits.float()
        return logits.cpu().numpy()


def apply_head(head, states):
    """``head(states)``: on the CPU, a plain linear layer in slices of
    :data:`HEAD_SLICE` output rows written into one ``(N, V)`` tensor, the
    same products as one ``linear`` (each logit is the same dot product);
    any other module, and any head on another device (a GPU runs one
    product best: slices would be 99 small kernels for GPT-2's
    vocabulary), as it is.

    On the CPU the slices are dealt to as many of seqscore's threads as
    torch may use (:func:`~seqscore.numerics.parallel.map_dealt`), each
    product on one torch thread: torch's own threads would split every slice and meet at
    a barrier after it, 99 barriers for GPT-2's vocabulary, each of which
    waits out a whole time slice when another process holds one of the
    cores (4x the time beside one busy process, where dealt slices take
    1.1-1.4x: BENCHMARKS.md, issue 25)."""
    if type(head) is not torch().nn.Linear or states.device.type != "cpu":
        return head(states)
    weight, bias = head.weight, head.bias
    out = torch().empty(
        (states.shape[0], weight.shape[0]), dtype=weight.dtype, device=states.device
    )

    def product(part: slice) -> None:
        with torch().inference_mode():  # a mode is per thread
            if bias is None:
                torch().mm(states, weight[part].t(), out=out[:, part])
            else:
                torch().addmm(bias[part], states, weight[part].t(), out=out[:, part])

    parts = [slice(s, s + HEAD_SLICE) for s in range(0, weight.shape[0], HEAD_SLICE)]
    threads = torch().get_num_threads()  # what the user (or a worker) allows
    with _one_torch_thread(threads):
        map_dealt(product, parts, workers=threads)
    return out


@contextlib.contextmanager
def _one_torch_thread(threads: int):
    """torch's intra-op threads set to one while the block runs, then back
    to ``threads`` (the setting is the process's: torch work of other
    threads meanwhile runs on one thread too)."""
    torch().set_num_threads(1)
    try:
        yield
    finally:
        torch().set_num_threads(threads)
