"""The logit-tree JSON model: the shipped fixture and every format error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seqscore.errors import DataFormatError
from seqscore.models.tree import load_tree, textbook_tree, tree_from_dict

FIXTURE = os.path.join(
    os.path.dirname(__file__), "..", "..", "fixtures", "textbook_tree.json"
)


def test_fixture_is_the_textbook_tree():
    shipped, built = load_tree(FIXTURE), textbook_tree()
    assert shipped.vocab == built.vocab and shipped.eos_id == built.eos_id
    prefixes = [[], [0], [1], [0, 2], [1, 2, 5]]
    np.testing.assert_array_equal(
        shipped.next_logprobs(prefixes), built.next_logprobs(prefixes)
    )
    # probabilities by hand: 0.6/0.4, then 1/3 each, then 0.9/0.05/0.05
    np.testing.assert_allclose(
        np.exp(shipped.next_logprobs(prefixes[:3])),
        [
            [0.6, 0.4, 0, 0, 0, 0],
            [0, 0, 1 / 3, 1 / 3, 1 / 3, 0],
            [0, 0, 0.9, 0.05, 0.05, 0],
        ],
        atol=1e-12,
    )


def test_logits_are_normalised_with_log_softmax():
    tree = tree_from_dict(
        {"vocab": ["a", "b", "<eos>"], "eos": "<eos>", "logits": {"": [2.0, 1.0, 0.1]}}
    )
    # softmax([2, 1, 0.1]) = [0.659, 0.242, 0.099] (the design notes' example)
    np.testing.assert_allclose(
        np.exp(tree.next_logprobs([[]])[0]), [0.659, 0.242, 0.099], atol=1e-3
    )


GOOD = {"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [0.0, 0.0]}}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"vocab": []}, "'vocab' must be a non-empty list"),
        ({"vocab": ["a", "a", "<eos>"]}, "vocab lists 'a' twice"),
        ({"vocab": ["a b", "<eos>"]}, r"vocab\[0\] = 'a b'"),
        ({"eos": "</s>"}, "'eos' '</s>' is not in 'vocab'"),
        ({"logits": []}, "'logits' must be an object"),
        ({"logits": {"": [0.0]}}, r"logits\[''\] must be a list of 2 logits"),
        ({"logits": {"": [0.0, "x"]}}, r"logits\[''\]\[1\] = 'x'"),
        ({"logits": {"": ["-inf", "-inf"]}}, "has no finite logit"),
        ({"logits": {"a  a": [0.0, 0.0]}}, "has token ''"),
        ({"logits": {"z": [0.0, 0.0]}}, "logits key 'z' has token 'z'"),
        ({"default": [1.0]}, "default must be a list of 2"),
        ({"extra": 1}, r"unknown field\(s\) \['extra'\]"),
    ],
)
def test_format_errors_name_the_field(change, message):
    with pytest.raises(DataFormatError, match=message):
        tree_from_dict({**GOOD, **change}, source="t.json")


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(DataFormatError, match=r"broken\.json: not valid JSON"):
        load_tree(path)


def test_minus_inf_masks_a_token(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**GOOD, "logits": {"": ["-inf", 0.0]}}))
    row = load_tree(path).next_logprobs([[]])[0]
    assert row[0] == -np.inf and row[1] == 0.0


@pytest.mark.parametrize(
    ("row", "shown"),
    [("[NaN, 0]", "nan"), ("[Infinity, 0]", "inf"), ("[1e999, 0]", "inf")],
)
def test_a_non_finite_logit_names_the_file_key_and_position(tmp_path, row, shown):
    path = tmp_path / "t.json"
    path.write_text(
        '{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": ROW}}'.replace(
            "ROW", row
        )
    )
    with pytest.raises(DataFormatError) as caught:
        load_tree(path)
    assert str(caught.value).startswith(f"{path}: logits[''][0] = {shown}: a logit")


def test_a_prefix_listed_twice_is_an_error(tmp_path):
    # json keeps the last of two equal keys: the first row would vanish unseen
    path = tmp_path / "t.json"
    path.write_text(
        '{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [1, 0], "": [0, 1]}}'
    )
    with pytest.raises(DataFormatError, match="the key '' appears twice"):
        load_tree(path)


def test_an_unlisted_prefix_names_the_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        '{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"a": [1, 0]}}'
    )
    tree = load_tree(path)
    with pytest.raises(Exception, match=f"{path}: no entry for prefix ''"):
        tree.next_logprobs([[]])


@pytest.mark.parametrize(
    "content, message",
    [
        # before: OverflowError, UnicodeDecodeError and RecursionError tracebacks
        (
            b'{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [1'
            + b"0" * 400
            + b", 0]}}",
            r"logits\[''\]\[0\]: an integer of 401 digits is too large",
        ),
        ('{"vocab": ["\xe9", "<eos>"]}'.encode("latin-1"), "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_tree_files_are_data_errors(tmp_path, content, message):
    path = tmp_path / "tree.json"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message):
        load_tree(path)
