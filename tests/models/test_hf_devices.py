"""Every tensor the adapter hands a model is on the model's device, in its dtype.

No GPU runs the test suite, and on the CPU every tensor is on the model's
device whatever the code says: a tensor built without ``device=`` passes
every CPU test and fails on CUDA ("Expected all tensors to be on the same
device"). So these tests give each tensor a *virtual* place, "host" or
"device", as CUDA would place it (:class:`VirtualDevice`, a torch function
mode): a factory without ``device=`` and ``.cpu()`` make host tensors;
``device=``, ``.to(device)``, the model's parameters and everything the
model computes make device tensors; any other operation gives its inputs'
place. The mode fails where CUDA would: an operation that mixes host and
device tensors (host scalars and indices excepted, as CUDA allows them) and
``.numpy()`` of a device tensor. A forward pre-hook on the model and its
base model checks every input: ids, positions, masks, and every key, value
and row index in a cache on the device; ids and positions int64; a float
mask, keys and values in the model's dtype.

Every way the adapter runs a model goes through it, in bfloat16: the
probes, whole sequences, packed rows, packed rows after shared prefixes,
cached contexts (padded together, and one a pass as for sliding windows),
and decoding from scratch and from the last call's keys and values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from torch.overrides import TorchFunctionMode

from seqscore.models.hf import MIN_SHARED_PREFIX, HFModel
from seqscore.models.requests import Request

HOST, DEVICE = "host", "device"
_PLACE = "_virtual_place"

#: Functions that make a tensor from nothing: on the host unless given a device.
_FACTORIES = {
    torch.tensor,
    torch.as_tensor,
    torch.from_numpy,
    torch.full,
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.arange,
    torch.eye,
}

#: Operations CUDA allows across places: copies, and indexing with host
#: indices (or into a host tensor).
_ACROSS = {
    torch.Tensor.to,
    torch.Tensor.cpu,
    torch.Tensor.copy_,
    torch.Tensor.__getitem__,
    torch.Tensor.__setitem__,
}


def _place(tensor) -> str:
    return getattr(tensor, _PLACE, HOST)


def _tensors(value):
    """The tensors in ``value``: a tensor, a list, tuple or dict of them,
    or a transformers cache (every tensor of every layer)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif hasattr(value, "layers"):
        for layer in value.layers:
            yield from _tensors(vars(layer))


def _mark(value, place: str) -> None:
    for tensor in _tensors(value):
        setattr(tensor, _PLACE, place)


class VirtualDevice(TorchFunctionMode):
    """Places every tensor made while it is on as CUDA would (see the module
    notes) and fails where CUDA would. ``inside``: how deep in a forward
    pass of the watched model (its own code is not checked, and makes
    device tensors)."""

    def __init__(self):
        super().__init__()
        self.inside = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.inside:
            out = func(*args, **kwargs)
            _mark(out, DEVICE)
            return out
        inputs = list(_tensors([args, kwargs]))
        if func is torch.Tensor.numpy and _place(args[0]) == DEVICE:
            raise AssertionError(".numpy() of a tensor on the device")
        places = {_place(t) for t in inputs if t.dim() or _place(t) == DEVICE}
        if places == {HOST, DEVICE} and func not in _ACROSS:
            raise AssertionError(f"{_name(func)} mixes host and device tensors")
        out = func(*args, **kwargs)
        _mark(out, self._result_place(func, args, kwargs, inputs))
        return out

    @staticmethod
    def _result_place(func, args, kwargs, inputs) -> str:
        if func in _FACTORIES or kwargs.get("device") is not None:
            return DEVICE if kwargs.get("device") is not None else HOST
        if func is torch.Tensor.cpu:
            return HOST
        if func is torch.Tensor.to:
            targets = [a for a in args[1:] if isinstance(a, str | torch.device)]
            if targets or kwargs.get("device") is not None:
                return DEVICE
            if len(inputs) > 1:  # .to(other): other's place
                return _place(inputs[1])
            return _place(args[0])
        return DEVICE if any(_place(t) == DEVICE for t in inputs) else HOST


def _name(func) -> str:
    return getattr(func, "__qualname__", repr(func))


def watch(model) -> VirtualDevice:
    """Put ``model`` on the virtual device and check what every forward pass
    of it, or of its base model, is handed."""
    mode = VirtualDevice()
    _mark([*model.parameters(), *model.buffers()], DEVICE)
    dtype = next(model.parameters()).dtype

    def check(module, args, kwargs):
        mode.inside += 1  # leave() runs even when a check fails
        for name, value in [*enumerate(args), *kwargs.items()]:
            for tensor in _tensors(value):
                if _place(tensor) != DEVICE:
                    raise AssertionError(f"{name}: a host tensor reached the model")
                if name in ("input_ids", "position_ids", 0):
                    want = torch.int64
                elif tensor.is_floating_point():
                    want = dtype
                else:
                    continue
                if tensor.dtype != want:
                    raise AssertionError(f"{name}: {tensor.dtype}, not {want}")

    def leave(module, args, kwargs, output):
        mode.inside -= 1

    for module in {model, model.base_model}:
        module.register_forward_pre_hook(check, with_kwargs=True)
        module.register_forward_hook(leave, with_kwargs=True, always_call=True)
    return mode


def _gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=40,
        n_positions=64,
        n_embd=16,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=1,
    )
    return transformers.GPT2LMHeadModel(config).to(torch.bfloat16).eval()


def _mistral():
    torch.manual_seed(0)
    config = transformers.MistralConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        sliding_window=4,
        bos_token_id=0,
        eos_token_id=1,
    )
    return transformers.MistralForCausalLM(config).to(torch.bfloat16).eval()


SHARED = tuple(range(3, 3 + MIN_SHARED_PREFIX))  # a prefix that runs once
REQUESTS = [
    Request((*SHARED, 20, 21), (22, 23, 24)),
    Request((*SHARED, 20, 21), (25,)),
    Request((*SHARED, 26), (27, 28)),
    Request((5, 6, 7), (8, 9)),
    Request((11,), (12, 13, 14)),
    Request((), (15, 16)),
]


def _scored(model: HFModel, share: bool) -> list[np.ndarray]:
    rows: list = [None] * len(REQUESTS)
    for block in model.continuation_logits(REQUESTS, share_contexts=share):
        ends = [*block.offsets[1:], len(block.logits)]
        for r, start, end in zip(block.requests, block.offsets, ends, strict=True):
            rows[r] = block.logits[start:end]
    return rows


ROUTES = ["whole", "packed", "packed after shared prefixes", "cached", "sliding"]


def _adapter(model, route: str) -> HFModel:
    prefixes = None if route == "packed after shared prefixes" else 0
    adapter = HFModel(model, batch_size=2, max_prefix_cache=prefixes)
    adapter._packs = route.startswith("packed")
    assert adapter.traits.plain_cache == (route != "sliding")
    return adapter


@pytest.mark.parametrize("route", ROUTES)
def test_every_scoring_route_hands_the_model_its_device_and_dtype(route):
    model = _mistral() if route == "sliding" else _gpt2()
    expected = _scored(_adapter(model, route), share=route != "whole")
    with watch(model):
        got = _scored(_adapter(model, route), share=route != "whole")
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)  # watched, not changed


def test_decoding_hands_the_model_its_device_and_dtype():
    model = _gpt2()
    with watch(model):
        adapter = HFModel(model)
        first = adapter.next_logprobs([[3, 4], [5, 6], []])
        assert adapter._decoder.cache.kept  # the next call extends these
        after = adapter.next_logprobs([[5, 6, 7], [3, 4, 9], [3, 4, 8]])
    assert first.dtype == after.dtype == np.float32
    assert np.isfinite(after).all()


def test_the_virtual_device_fails_where_cuda_would():
    model = _gpt2()
    with watch(model):
        on_device = torch.tensor([[1, 2]], device="cpu")
        with pytest.raises(AssertionError, match="host tensor reached the model"):
            model(input_ids=torch.tensor([[1, 2]]))  # no device=
        with pytest.raises(AssertionError, match="mixes host and device"):
            on_device + torch.arange(2)
        with pytest.raises(AssertionError, match="numpy"):
            on_device.numpy()
        with pytest.raises(
            AssertionError, match=r"attention_mask: torch\.float32, not torch\.bfloat16"
        ):
            model(input_ids=on_device, attention_mask=torch.zeros(1, 1, 2, 2).to("cpu"))
        assert (on_device + torch.tensor(1)).cpu().numpy().tolist() == [[2, 3]]
        model(input_ids=on_device, position_ids=on_device)  # all on the device
