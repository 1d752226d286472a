"""Keys and values a Hugging Face model computed once and reads again.

Two readers of kept keys and values (per layer, ``(rows, heads, positions,
head_dim)`` tensors):

* a *continuation pass* of shared-context scoring, for models that cannot
  take a packed row (:mod:`seqscore.models.hf_packing`), reads the keys of
  its rows' contexts once, and keeps nothing after it:
  :func:`continuation_cache` gives each layer its rows' context keys when
  that layer runs and forgets them when it is done, so a pass holds one
  layer's gathered keys at a time, not every layer's at once (with
  transformers' ``DynamicCache`` filled upfront, a pass held every layer's
  rows copied twice over);
* a step of cached decoding extends the rows it reselected and keeps the
  result for the next step: :func:`decoding_cache`.

Needs torch and transformers (from :mod:`seqscore.models._torch`, when
called).
"""

from __future__ import annotations

import functools

from seqscore.models._torch import dynamic_layer_class, torch, transformers

__all__ = [
    "Keys",
    "cache_layers",
    "continuation_cache",
    "decoding_cache",
    "plain_cache",
]


class Keys:
    """Keys and values of a batch of rows, per layer, with the rows'
    attention mask (None: no padding) and, for decoding, which prefix each
    row holds."""

    def __init__(self, layers, mask, index=None):
        self.layers, self.mask, self.index = layers, mask, index or {}

    def select(self, rows) -> list:
        """The ``(key, value)`` of each layer for ``rows`` (copies)."""
        return [
            (k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.layers
        ]

    def nbytes(self) -> int:
        """Bytes of the keys and values (what the decoding budget counts)."""
        return sum(k.nelement() * k.element_size() * 2 for k, _ in self.layers)

    @classmethod
    def join(cls, caches, prefixes) -> Keys:
        """One :class:`Keys` of the rows of several caches' layers, in order
        (decoding runs a long group of prefixes in chunks, and keeps them as
        one)."""
        cat = torch().cat
        layers = [
            (cat([c[i][0] for c in caches]), cat([c[i][1] for c in caches]))
            for i in range(len(caches[0]))
        ]
        return cls(layers, None, {p: i for i, p in enumerate(prefixes)})


def cache_layers(cache) -> list:
    """The ``(key, value)`` pair of each layer of a transformers cache."""
    return [(layer[0], layer[1]) for layer in cache]


def decoding_cache(layers, config):
    """A transformers ``DynamicCache`` holding ``layers``, for a forward
    pass that extends them and keeps the result."""
    return transformers().DynamicCache(ddp_cache_data=layers, config=config)


def plain_cache(config) -> bool:
    """Whether every layer of the cache transformers builds for ``config``
    is a plain ``DynamicLayer``: full attention that keeps every position.

    Only then may contexts of different lengths be right-padded together
    and read through :func:`continuation_cache`. A sliding-window layer
    keeps the last positions of each padded row, padding included, so a
    shorter context's continuations would attend to padding: such models
    share each context only with its own continuations. False where it
    cannot be told (transformers before 4.56 has no cache layers).
    """
    if _single_pass_layer() is None:
        return False
    try:
        layers = transformers().DynamicCache(config=config).layers
    except (TypeError, ValueError, AttributeError):  # a config it cannot read
        return False
    plain = dynamic_layer_class()
    return bool(layers) and all(type(layer) is plain for layer in layers)


def continuation_cache(keys: Keys, rows, config, *, plain: bool):
    """A cache for one forward pass of ``rows`` (indices into ``keys``'
    rows) after their contexts' keys and values.

    With a ``plain`` cache (:func:`plain_cache`), each layer gathers its
    rows' context keys when the model updates it and keeps neither them
    nor the pass's own: the pass is their last reader. Otherwise the rows'
    keys are copied into a ``DynamicCache`` of the config's layer types.
    """
    if not plain:
        return decoding_cache(keys.select(rows), config)
    cache = transformers().DynamicCache(config=config)
    cache.layers = [_single_pass_layer()(k, v, rows) for k, v in keys.layers]
    return cache


@functools.cache
def _single_pass_layer():
    """The cache layer class of :func:`continuation_cache` (defined on
    first use: it subclasses transformers'), or None without one."""
    base = dynamic_layer_class()
    if base is None:
        return None

    # the base is transformers' class, known only when this runs
    class SinglePassLayer(base):  # type: ignore[misc, valid-type]
        """One layer's context keys and values, read by one pass of
        ``rows``: ``update`` returns each row's context keys followed by the
        pass's own and stores nothing. ``get_seq_length`` is the contexts'
        (padded) length, so positions and masks come out as for a filled
        cache."""

        def __init__(self, keys, values, rows):
            super().__init__()
            self.keys, self.values, self.rows = keys, values, rows
            self.device = keys.device
            self.is_initialized = True

        def update(self, key_states, value_states, *args, **kwargs):
            cat = torch().cat
            keys = cat([self._of_rows(self.keys), key_states], -2)
            values = cat([self._of_rows(self.values), value_states], -2)
            return keys, values

        def _of_rows(self, kept):
            """``kept[rows]``: a view where one row is kept (a shared
            prefix read by every row: ``cat`` then copies it once, not
            twice), a gathered copy otherwise."""
            if kept.shape[0] == 1:
                return kept.expand(len(self.rows), *kept.shape[1:])
            return kept.index_select(0, self.rows)

    return SinglePassLayer
