"""dlbook.tokenize: the character tokenizer, and the byte-pair encoding against a hand-worked example, against
a slow trainer that recounts every pair after each merge, on Shakespeare and on arbitrary Unicode."""

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook
import dlbook.data as data
from dlbook.tokenize import SPLIT_PATTERN, BPETokenizer, CharTokenizer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus() -> tuple[str, str]:
    """1 MB of Shakespeare to learn from, and 100 kB from later plays to measure on."""
    text = data.shakespeare()
    return text[:1_000_000], text[3_000_000:3_100_000]


@pytest.fixture(scope="module")
def bpe512(corpus) -> BPETokenizer:
    return BPETokenizer.train(corpus[0], 512)


def slow_bpe(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """The textbook trainer: recount every pair of every piece before each merge, merge the most frequent
    (ties to the smallest pair), until the vocabulary is full or no pair occurs twice."""
    words = [list(piece.encode("utf-8")) for piece in re.findall(SPLIT_PATTERN, text)]
    merges = []
    while 256 + len(merges) < vocab_size:
        counts = Counter(pair for word in words for pair in pairwise(word))
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        if counts[best] < 2:
            break
        new = 256 + len(merges)
        merges.append(best)
        for word in words:
            i = 0
            while i < len(word) - 1:
                if (word[i], word[i + 1]) == best:
                    word[i : i + 2] = [new]
                i += 1
    return merges


# ---------- the character tokenizer ----------


def test_char_tokenizer_is_the_sorted_characters_seen():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == sorted(" dehlorw") and tok.vocab_size == 8 and tok.specials == []
    assert tok.encode("hello") == [3, 2, 4, 4, 5] and tok.decode([3, 2, 4, 4, 5]) == "hello"
    ids = tok.encode("world", tensor=True)
    assert ids.dtype == torch.long and ids.shape == (5,) and tok.decode(ids) == "world"
    assert tok.decode(ids.numpy()) == "world" and tok.encode("") == [] and tok.decode([]) == ""
    assert CharTokenizer.from_text(["ab", "ca"]).chars == ["a", "b", "c"]  # a list of texts
    assert repr(tok) == "CharTokenizer(vocab_size=8, specials=[])"


def test_char_tokenizer_specials_take_the_first_ids_and_are_never_made_from_text():
    tok = CharTokenizer.from_text("<abs>", specials=["<pad>", "<s>"])
    assert tok.itos == ["<pad>", "<s>", "<", ">", "a", "b", "s"] and tok.stoi["<s>"] == 1
    assert tok.encode("<s>") == [2, 6, 3]  # characters, not the special token
    assert tok.decode([1, 4, 0]) == "<s>a<pad>"


def test_char_tokenizer_matches_a_lookup_table_on_shakespeare(corpus):
    text = corpus[0]
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text, tensor=True)
    table = {c: i for i, c in enumerate(sorted(set(text)))}
    assert ids.tolist()[:5000] == [table[c] for c in text[:5000]]
    assert tok.decode(ids) == text and int(ids.max()) == tok.vocab_size - 1 == len(table) - 1


def test_char_tokenizer_names_unknown_characters():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"not in the vocabulary: 'é', 'ü' \(first at position 2\)"):
        tok.encode("abüéa")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="decode each row"):
        tok.decode(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="ids must be"):
        tok.decode([0.0])
    with pytest.raises(TypeError, match="encode takes a string"):
        tok.encode(["a"])
    with pytest.raises(ValueError, match="once"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_char_tokenizer_round_trips_any_unicode(text):
    tok = CharTokenizer.from_text(text, specials=["<pad>"])
    ids = tok.encode(text)
    assert tok.decode(ids) == text and len(ids) == len(text) and 0 not in ids


def test_char_tokenizer_state_round_trips_through_json():
    tok = CharTokenizer.from_text("zäy\n", specials=["<pad>"])
    again = CharTokenizer.from_state_dict(json.loads(json.dumps(tok.state_dict())))
    assert again.itos == tok.itos and again.encode("yäz") == tok.encode("yäz")
    with pytest.raises(ValueError, match="not the state of a CharTokenizer"):
        CharTokenizer.from_state_dict({"kind": "BPETokenizer"})


# ---------- byte-pair encoding: by hand, and against the slow trainer ----------


def test_bpe_hand_worked_example():
    # aaabdaaabac: "aa" (4 times, overlapping) -> Z; ZabdZabac: "Za" and "ab" tie at 2, the smaller ids win:
    # "ab" -> Y; ZYdZYac: "ZY" -> X; XdXac: no pair occurs twice, so training stops after three merges.
    bpe = BPETokenizer.train("aaabdaaabac", vocab_size=1000)
    assert bpe.merges == [(97, 97), (97, 98), (256, 257)] and bpe.vocab_size == 259
    assert bpe.vocab[256:] == [b"aa", b"ab", b"aaab"]
    assert bpe.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]
    assert bpe.pieces("aaabdaaabac") == ["aaab", "d", "aaab", "a", "c"]
    assert BPETokenizer.train("aaabdaaabac", vocab_size=257).merges == [(97, 97)]  # stops at vocab_size
    assert BPETokenizer.train("aaabdaaabac", 300, min_frequency=1).vocab_size == 263  # down to one piece
    assert BPETokenizer.train("aaaa", 300).merges == [(97, 97)]  # aaaa -> ZZ, and ZZ occurs once


def test_bpe_merges_stay_inside_the_pieces_of_the_pre_split():
    text = "Hello, world's 42 _x!\n\n  ok"
    cut = ["Hello", ",", " world", "'s", " 42", " _", "x", "!", "\n\n ", " ok"]  # as GPT-2 cuts it
    assert re.findall(SPLIT_PATTERN, text) == cut and "".join(cut) == text
    bpe = BPETokenizer.train("ab ab ab ab", 300)
    assert (ord("b"), ord(" ")) not in bpe.merges  # a piece is " ab": the space leads, never trails
    assert bpe.pieces("ab ab") == ["ab", " ab"]


@pytest.mark.parametrize("start", [0, 500_000])
def test_incremental_training_equals_recounting_every_pair(start):
    text = data.shakespeare()[start : start + 6000]
    assert BPETokenizer.train(text, 256 + 80).merges == slow_bpe(text, 256 + 80)


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab éß€😀 \n.,"), max_size=80))
def test_incremental_training_equals_recounting_on_unicode(text):
    assert BPETokenizer.train(text, 300).merges == slow_bpe(text, 300)


def test_first_merge_is_the_most_frequent_pair(bpe512, corpus):
    counts = Counter()
    for piece in re.findall(SPLIT_PATTERN, corpus[0]):
        counts.update(pairwise(piece.encode("utf-8")))
    (top, n), (_, second) = counts.most_common(2)
    assert n > second and bpe512.merges[0] == top == (ord(" "), ord("t"))  # " t", as in " the", " to"


def test_bpe_round_trips_shakespeare(bpe512, corpus):
    seen, unseen = corpus
    for text in (seen[:200_000], unseen):
        ids = bpe512.encode(text, tensor=True)
        assert ids.dtype == torch.long and bpe512.decode(ids) == text
        assert int(ids.max()) < 512 and "".join(bpe512.pieces(text[:3000])) == text[:3000]


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_bpe_round_trips_any_unicode(bpe512, text):
    assert bpe512.decode(bpe512.encode(text)) == text
    own = BPETokenizer.train(text * 3, 300)  # merges inside multi-byte characters too
    assert own.decode(own.encode(text)) == text


def test_more_merges_mean_fewer_tokens_per_character(corpus):
    seen, unseen = corpus
    assert BPETokenizer.train(seen, 256).encode(unseen) == list(unseen.encode("utf-8"))  # bytes, no merges
    ratios = [len(BPETokenizer.train(seen[:300_000], size).encode(unseen)) / len(unseen) for size in (256, 300, 512)]
    assert ratios[0] == 1.0 and ratios[0] > ratios[1] > ratios[2]  # 1.00, ~0.75, ~0.53 on Shakespeare
    assert ratios[2] < 0.6


def test_bpe_trains_and_encodes_fast_enough_for_a_chapter(corpus):
    seen, unseen = corpus
    start = time.perf_counter()
    bpe = BPETokenizer.train(seen, 256 + 500)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    ids = bpe.encode(unseen)
    encoded = time.perf_counter() - start
    assert trained < 10 and encoded < 1, (trained, encoded)  # about 1 s and 0.07 s on one CPU thread
    assert len(ids) / len(unseen) < 0.5


def test_bpe_is_deterministic_across_processes():
    text = data.shakespeare()[:20_000]
    code = (
        "import json, sys, dlbook.data as d; from dlbook.tokenize import BPETokenizer;"
        "print(json.dumps(BPETokenizer.train(d.shakespeare()[:20_000], 400).merges))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    merges = [tuple(pair) for pair in json.loads(out.stdout)]
    assert merges == BPETokenizer.train(text, 400).merges == BPETokenizer.train(text, 400).merges


def test_bpe_state_round_trips_through_json(bpe512, corpus):
    state = json.loads(json.dumps(bpe512.state_dict()))
    assert state["kind"] == "BPETokenizer" and len(state["merges"]) == 256 and state["pattern"] == SPLIT_PATTERN
    again = BPETokenizer.from_state_dict(state)
    assert again.merges == bpe512.merges and again.vocab == bpe512.vocab
    assert again.encode(corpus[1][:20_000]) == bpe512.encode(corpus[1][:20_000])
    assert repr(again) == "BPETokenizer(vocab_size=512, merges=256)"


def test_bpe_decodes_a_cut_character_as_the_replacement_character():
    bpe = BPETokenizer()
    assert bpe.encode("é") == [0xC3, 0xA9] and bpe.decode([0xC3]) == "\ufffd"
    assert bpe.vocab_size == 256 and bpe.decode(torch.tensor([104, 105])) == "hi"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: BPETokenizer.train("abc", 100), ValueError, "vocab_size must be an int >= 256.*256 byte"),
        (lambda: BPETokenizer.train("abc", 512.0), TypeError, "vocab_size"),
        (lambda: BPETokenizer.train(b"abc", 300), TypeError, "text must be a string"),
        (lambda: BPETokenizer.train("abc", 300, min_frequency=0), ValueError, "min_frequency"),
        (lambda: BPETokenizer.train("abc", 300, pattern="("), ValueError, "regular expression"),
        (lambda: BPETokenizer().decode([256]), ValueError, r"ids must be in \[0, 256\)"),
        (lambda: BPETokenizer().encode(None), TypeError, "encode takes a string"),
        (lambda: BPETokenizer([(1, 2), (300, 1)]), ValueError, "merge 1 must be a pair of ids below 257"),
        (lambda: BPETokenizer.from_state_dict({"merges": []}), ValueError, "not the state of a BPETokenizer"),
    ],
)
def test_bpe_refuses_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_module_is_dlbook_tokenize_and_leaves_the_standard_tokenize_alone():
    import inspect
    import tokenize

    assert dlbook.tokenize.BPETokenizer is BPETokenizer and Path(tokenize.__file__).parent != Path(dlbook.__file__)
    assert "def train" in inspect.getsource(BPETokenizer)  # inspect reads source through the stdlib tokenize
