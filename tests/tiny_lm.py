"""A tiny random GPT-2 with a real subword tokenizer, made offline.

The tokenizer is a byte-level BPE (GPT-2's scheme) trained with the
``tokenizers`` library on the documentation text that ships with CPython
(``pydoc_data.topics``); the model has random weights from a fixed seed.
Nothing is downloaded. ``initializer_range=0.2`` makes the next-token
distributions peaked enough that some continuations are greedy.
"""

from __future__ import annotations

from pathlib import Path

END = "<|endoftext|>"


def bpe_tokenizer(vocab_size: int = 400, texts=None):
    """A byte-level BPE tokenizer trained on ``texts`` (default: the
    ``pydoc_data.topics`` documentation)."""
    from pydoc_data.topics import topics

    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if texts is None:
        texts = [topics[key] for key in sorted(topics)]
    backend.train_from_iterator(texts, trainer)
    # GPT-2's own inputs: no token_type_ids (GPT-2 would add their
    # embeddings, through its word embeddings, to every position)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=END,
        eos_token=END,
        model_input_names=["input_ids", "attention_mask"],
    )


def tiny_gpt2(tokenizer, n_positions: int = 64, seed: int = 0):
    """A 2-layer GPT-2 over ``tokenizer``'s vocabulary, random weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    end = tokenizer.convert_tokens_to_ids(END)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=end,
        eos_token_id=end,
        initializer_range=0.2,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def tiny_sliding_mistral(tokenizer, sliding_window: int = 4, seed: int = 0):
    """A 2-layer Mistral over ``tokenizer``'s vocabulary whose attention
    sees only the last ``sliding_window`` positions (its cache keeps only
    those), random weights."""
    return _tiny_rotary("Mistral", tokenizer, seed, sliding_window=sliding_window)


def tiny_llama(tokenizer, seed: int = 0):
    """A 2-layer Llama (rotary positions, grouped-query attention) over
    ``tokenizer``'s vocabulary, random weights."""
    return _tiny_rotary("Llama", tokenizer, seed, num_attention_heads=4)


def _tiny_rotary(family: str, tokenizer, seed: int, **options):
    """A 2-layer ``{family}ForCausalLM`` 32 wide, two query heads a key head
    unless ``options`` say otherwise."""
    import torch
    import transformers

    torch.manual_seed(seed)
    end = tokenizer.convert_tokens_to_ids(END)
    settings = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 64,
        "bos_token_id": end,
        "eos_token_id": end,
        "initializer_range": 0.2,
    }
    config = getattr(transformers, f"{family}Config")(**{**settings, **options})
    return getattr(transformers, f"{family}ForCausalLM")(config).eval()


def save_tiny_gpt2(folder: Path, n_positions: int = 64) -> Path:
    """Save the tokenizer and model to ``folder`` (``from_pretrained`` reads it)."""
    tokenizer = bpe_tokenizer()
    tiny_gpt2(tokenizer, n_positions).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
