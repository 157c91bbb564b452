"""Training examples: trained/masked segments become token ranges; dataset lines are checked.

Tokenizing uses the real tiny Qwen3 tokenizer; each bad-file test says what was written.
"""

from __future__ import annotations

import json

import pytest

from iisearch_local.finetune.examples import (
    DatasetError,
    Segment,
    TokenizedExample,
    TraceExample,
    load_tokenizer,
    read_dataset,
    tokenize_example,
    write_dataset,
)

PROMPT = "<|im_start|>user\nWho built it?<|im_end|>\n<|im_start|>assistant\n<think>\n"
WRITTEN = "I will search.\n<start_code>\n```python\nprint(web_search(query=\"x\"))\n```\n<end_code>"
OUTPUT = "\n```output\nIndex: 1\nEngineers from Lyon\n```\n"
ANSWER = "Lyon engineers.\n</think>\n\nEngineers from Lyon built it.<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    return load_tokenizer(tiny_models.hf)


def example() -> TraceExample:
    segments = [Segment(PROMPT, False), Segment(WRITTEN, True), Segment(OUTPUT, False),
                Segment(ANSWER, True), Segment("\n", False)]
    return TraceExample(protocol="cir", segments=segments, question="Who built it?",
                        answer="Engineers from Lyon built it.", tool_calls=1, source="test")


def test_trained_tokens_decode_to_exactly_the_model_text(tokenizer):
    tokenized = tokenize_example(tokenizer, example())
    assert tokenized.tokens == tokenizer.encode(example().text, add_special_tokens=False).ids
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
    first, second = [decode(tokenized.tokens[a:b]) for a, b in tokenized.trained]
    # "<end_code>" + "\n```output" tokenizes with a ">\n" token: it starts in the model's text,
    # so it is trained (the model must learn to finish its stop string); nothing more spills.
    assert first.startswith(WRITTEN)
    spill = first[len(WRITTEN):]
    assert spill == "\n" and OUTPUT.startswith(spill)
    assert second == ANSWER
    mask = tokenized.mask()
    masked = decode([t for t, m in zip(tokenized.tokens, mask) if not m])
    assert masked == PROMPT + OUTPUT[len(spill):] + "\n"
    assert tokenized.trained_tokens == int(mask.sum()) < len(tokenized)


def test_adjacent_trained_segments_merge_into_one_span():
    merged = TraceExample(protocol="cir", segments=[Segment("a", True), Segment("b", True),
                                                   Segment("", False), Segment("c", True)],
                          question="q", answer="", tool_calls=0, source="t")
    assert merged.trained_spans() == [(0, 3)]


def test_a_dataset_round_trips(tmp_path, tokenizer):
    tokenized = tokenize_example(tokenizer, example())
    path = tmp_path / "train.jsonl"
    assert write_dataset(path, [tokenized, tokenized]) == 2
    again = list(read_dataset(path, vocab_size=tokenizer.get_vocab_size()))
    assert [e.tokens for e in again] == [tokenized.tokens] * 2
    assert [e.trained for e in again] == [tokenized.trained] * 2
    assert again[0].meta["source"] == "test"
    assert not list(tmp_path.glob(".*partial"))  # the temporary file was renamed


GOOD = TokenizedExample(tokens=[1, 2, 3], trained=[(1, 3)]).to_json()


@pytest.mark.parametrize("bad, message", [
    ("", "line 2: the line is empty"),
    ("{not json", "line 2: not valid JSON"),
    ("[1, 2]", "line 2: expected a JSON object"),
    ('{"tokens": [], "trained": []}', "line 2: \"tokens\" must be a non-empty list"),
    ('{"tokens": [1, "x"], "trained": [[0, 1]]}', "line 2: \"tokens\" must be"),
    ('{"tokens": [1, 2], "trained": [[0, 3]]}', "line 2: bad trained range"),
    ('{"tokens": [1, 2, 3], "trained": [[1, 3], [0, 1]]}', "line 2: bad trained range"),
    ('{"tokens": [1, 2], "trained": []}', "line 2: the example has no trained tokens"),
    ('{"tokens": [1, 999999], "trained": [[0, 2]]}', "line 2: token id 999999 is outside"),
])
def test_bad_lines_are_reported_with_their_line_number(tmp_path, bad, message):
    """A good first line, then an empty / malformed / out-of-range second line."""
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD + "\n" + bad + "\n" + GOOD + "\n", "utf-8")
    with pytest.raises(DatasetError) as caught:
        list(read_dataset(path, vocab_size=1000))
    assert message in caught.value.message and str(path) in caught.value.message


def test_a_missing_dataset_or_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot open the dataset"):
        list(read_dataset(tmp_path / "nope.jsonl"))
    with pytest.raises(DatasetError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"broken": True}), "utf-8")
    with pytest.raises(DatasetError, match="cannot read"):
        load_tokenizer(tmp_path)


def test_the_fingerprint_follows_behaviour_not_file_bytes(tiny_models, tmp_path):
    """mlx_lm.convert rewrote tokenizer.json (other bytes, same tokens): same fingerprint.

    A tokenizer with two token ids swapped gets another one.
    """
    from iisearch_local.finetune.examples import tokenizer_fingerprint

    hf, mlx = tiny_models.hf, tiny_models.mlx_q4
    assert (hf / "tokenizer.json").read_bytes() != (mlx / "tokenizer.json").read_bytes()
    assert tokenizer_fingerprint(hf) == tokenizer_fingerprint(mlx)
    data = json.loads((hf / "tokenizer.json").read_text("utf-8"))
    vocab = data["model"]["vocab"]
    first, second = (next(t for t, i in vocab.items() if i == n) for n in (1000, 1001))
    vocab[first], vocab[second] = 1001, 1000  # two tokens swap ids
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), "utf-8")
    assert tokenizer_fingerprint(tmp_path) != tokenizer_fingerprint(hf)
