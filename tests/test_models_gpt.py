"""dlbook.models.GPT and Seq2SeqTransformer: shapes, causality, the KV cache against recomputation (logits and
generated tokens, greedy and seeded sampling, past the context length), weight tying, a tiny model that
learns, the FLOP estimate against torch's counter, greedy and beam decoding (beam search against an exhaustive
search), and bad input."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dlbook.layers import KVCache
from dlbook.models import GPT, Seq2SeqTransformer, count_parameters, gpt_flops_per_token

VOCAB, CONTEXT = 11, 12


def small_gpt(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(vocab_size=VOCAB, context_length=CONTEXT, embed_dim=16, num_layers=2, num_heads=2) | kwargs
    return GPT(**options)


def tokens(*shape, seed=1, high=VOCAB):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def test_gpt_shapes_causality_and_weight_tying():
    model = small_gpt()
    idx = tokens(3, 7)
    logits = model(idx)
    assert logits.shape == (3, 7, VOCAB)
    later = idx.clone()
    later[:, 4:] = (later[:, 4:] + 1) % VOCAB  # change the future: the past's logits stay
    torch.testing.assert_close(model(later)[:, :4], logits[:, :4])
    assert not torch.allclose(model(later)[:, 4:], logits[:, 4:])
    assert model.head.weight is model.tokens.weight
    E, L = 16, 2
    per_block = 2 * 2 * E + (3 * E * E + 3 * E) + (E * E + E) + (4 * E * E + 4 * E) + (4 * E * E + E)
    assert count_parameters(model) == VOCAB * E + CONTEXT * E + L * per_block + 2 * E  # the head counted once


@pytest.mark.parametrize("fused", [False, True])
def test_cached_logits_equal_the_full_forward(fused):
    """Prefill, then one token at a time and a chunk: every step's logits as in one full pass, to 1e-5."""
    model = small_gpt(fused=fused)
    idx = tokens(2, CONTEXT)
    full = model(idx)
    caches = [KVCache() for _ in model.blocks]
    pieces = [model(idx[:, a:b], caches) for a, b in ((0, 5), (5, 6), (6, 7), (7, 10), (10, 11), (11, 12))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"reads at most 12 tokens, got 13: crop the context to idx\[:, -12:\]"):
        model(idx[:, :1], caches)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("options", [dict(temperature=0.0), dict(top_k=1)])
def test_greedy_generation_is_the_same_with_and_without_cache(options, fused):
    """Past the context length too: 5 prompt tokens + 20 new ones with a context of 12."""
    model = small_gpt(fused=fused)
    prompt = tokens(3, 5)
    cached = model.generate(prompt, 20, use_cache=True, **options)
    recomputed = model.generate(prompt, 20, use_cache=False, **options)
    assert cached.shape == (3, 25) and torch.equal(cached[:, :5], prompt)
    assert torch.equal(cached, recomputed)
    step_by_step = prompt
    for _ in range(20):  # greedy by hand: the argmax after the last 12 tokens
        next_token = model(step_by_step[:, -CONTEXT:])[:, -1].argmax(-1, keepdim=True)
        step_by_step = torch.cat([step_by_step, next_token], dim=1)
    assert torch.equal(cached, step_by_step)


@pytest.mark.parametrize("top_k", [None, 3])
def test_seeded_sampling_is_the_same_with_and_without_cache(top_k):
    model = small_gpt()
    prompt = tokens(4, 3)
    seeded = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    cached = model.generate(prompt, 25, temperature=1.5, top_k=top_k, generator=seeded(7))
    recomputed = model.generate(prompt, 25, temperature=1.5, top_k=top_k, use_cache=False, generator=seeded(7))
    assert torch.equal(cached, recomputed)
    assert not torch.equal(cached, model.generate(prompt, 25, temperature=1.5, top_k=top_k, generator=seeded(8)))


def test_top_k_keeps_to_the_k_most_likely():
    model = small_gpt()
    prompt = tokens(1, 4).expand(200, 4)
    first = model.generate(prompt, 1, top_k=3, generator=torch.Generator().manual_seed(0))[:, -1]
    top3 = model(prompt[:1])[0, -1].topk(3).indices
    assert set(first.tolist()) == set(top3.tolist())


def test_long_prompts_are_cropped_to_the_context():
    """A prompt longer than context_length: generation sees its last context_length tokens."""
    model = small_gpt()
    prompt = tokens(2, 30)
    for use_cache in (True, False):
        out = model.generate(prompt, 6, temperature=0, use_cache=use_cache)
        assert torch.equal(out[:, :30], prompt)
        assert torch.equal(out[:, 30:], model.generate(prompt[:, -CONTEXT:], 6, temperature=0)[:, CONTEXT:])
    with pytest.raises(ValueError, match=r"GPT\(context_length=12\) reads at most 12 tokens, got 30"):
        model(prompt)


def test_generate_runs_in_eval_mode_and_restores_the_mode():
    model = small_gpt(dropout=0.5)
    model.train()
    prompt = tokens(2, 4)
    first = model.generate(prompt, 8, temperature=0)
    assert model.training
    assert torch.equal(first, model.generate(prompt, 8, temperature=0))  # no dropout while generating
    assert torch.equal(model.generate(prompt, 0), prompt)


@pytest.mark.parametrize("fused", [False, True])
def test_bfloat16_autocast_runs_close_to_float32(fused):
    """What the GPU path uses: the logits under bfloat16 autocast (here on the CPU) stay near float32's."""
    model = small_gpt(fused=fused)
    idx = tokens(2, CONTEXT)
    reference = model(idx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(idx)
        generated = model.generate(idx[:, :4], 4, temperature=0)
    assert logits.dtype == torch.bfloat16 and generated.shape == (2, 8)
    torch.testing.assert_close(logits.float(), reference, rtol=0, atol=0.05)


def test_a_tiny_gpt_learns_a_repeating_text():
    """Trained on one repeating pattern for 100 steps, greedy generation continues the pattern."""
    model = small_gpt(seed=3, vocab_size=5)
    pattern = torch.tensor([0, 1, 2, 3, 4, 3, 2, 1] * 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    windows = torch.stack([pattern[i : i + CONTEXT + 1] for i in range(8)])
    for _ in range(100):
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 5), windows[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1  # the floor is about 0.043: a window's first step can go two ways (1 -> 0 or 2)
    out = model.generate(pattern[None, :6], 16, temperature=0)
    assert torch.equal(out[0], pattern[:22])


def test_gpt_errors():
    model = small_gpt()
    with pytest.raises(ValueError, match=r"idx: \(batch, time\) integer token ids.*got torch.float32"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"got shape \(5,\): add the batch axis with idx\[None\]"):
        model(tokens(5))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        model.generate(tokens(2, 3, 4), 2)
    with pytest.raises(ValueError, match=r"token ids in 0..10, got ids from 0 to 11"):
        model(torch.tensor([[0, 11]]))
    with pytest.raises(ValueError, match="one KVCache per block"):
        model(tokens(1, 2), [KVCache()])
    with pytest.raises(ValueError, match="temperature must be >= 0 and top_k >= 1"):
        model.generate(tokens(1, 2), 2, top_k=0)
    with pytest.raises(ValueError, match="embed_dim must be a positive int"):
        GPT(10, 8, 0, 1, 1)


def test_flops_per_token_agree_with_torch_counter():
    """The forward estimate 2 N + 4 L E T against torch's count of the matrix products, over a full context
    (N includes biases and norms, which torch's counter does not see: within 2%). The from-scratch attention,
    whose matrix products the counter sees (it has no formula for torch's fused CPU kernel)."""
    model = GPT(vocab_size=65, context_length=32, embed_dim=64, num_layers=2, num_heads=4)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(tokens(2, 32, high=65))
    per_token = counter.get_total_flops() / (2 * 32)
    estimate = gpt_flops_per_token(model, training=False)
    assert estimate == pytest.approx(per_token, rel=0.02)
    assert estimate >= per_token
    attention = sum(v for k, v in counter.get_flop_counts()["Global"].items() if "bmm" in str(k)) / (2 * 32)
    assert attention == 4 * 2 * 64 * 32  # q k^T and weights @ v: 4 L E T
    assert gpt_flops_per_token(model) == 3 * estimate
    assert gpt_flops_per_token(model, context_length=64) - gpt_flops_per_token(model) == 3 * 2 * 4 * 64 * 32


# Seq2SeqTransformer

SRC_VOCAB, TGT_VOCAB = 9, 7  # 0 pad, 1 bos, 2 eos in both


def small_seq2seq(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(embed_dim=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2, max_length=10) | kwargs
    return Seq2SeqTransformer(SRC_VOCAB, TGT_VOCAB, **options)


def source(batch=4, length=6, seed=2):
    src = tokens(batch, length, seed=seed, high=SRC_VOCAB - 3) + 3
    src[1, -2:] = 0  # padding
    return src


def test_seq2seq_shapes_causality_and_padding():
    model = small_seq2seq()
    src = source()
    tgt = torch.cat([torch.ones(4, 1, dtype=torch.long), tokens(4, 5, high=TGT_VOCAB - 3) + 3], dim=1)
    logits = model(src, tgt)
    assert logits.shape == (4, 6, TGT_VOCAB)
    later = tgt.clone()
    later[:, 3:] = 3
    torch.testing.assert_close(model(src, later)[:, :3], logits[:, :3])  # causal decoder
    padded = torch.cat([src, torch.zeros(4, 3, dtype=torch.long)], dim=1)  # more padding changes nothing
    torch.testing.assert_close(model(padded, tgt), logits, rtol=1e-5, atol=1e-5)
    assert model.encode(src).shape == (4, 6, 16)
    other = src.clone()
    other[:, 0] = 3 + (other[:, 0] - 2) % (SRC_VOCAB - 3)  # another first source token: other logits
    assert not torch.allclose(model(other, tgt), logits)


def test_a_tiny_seq2seq_learns_to_reverse():
    """Reversing 4 symbols needs the cross-attention: after 50 steps on all 256 sources, greedy and beam
    decoding reverse (nearly) all of them."""
    model = small_seq2seq(seed=1, num_decoder_layers=1)
    src = torch.tensor(list(itertools.product(range(3, 7), repeat=4)))  # (256, 4)
    tgt = torch.cat([torch.ones(256, 1, dtype=torch.long), src.flip(1), torch.full((256, 1), 2)], dim=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(50):
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], ignore_index=model.pad_id)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model.greedy_decode(src, max_length=6)[:, :6] == tgt).all(1).float().mean() > 0.95
    assert (model.beam_search(src, beam_size=3, max_length=6)[:, :6] == tgt).all(1).float().mean() > 0.95


@pytest.mark.parametrize("fused", [False, True])
def test_beam_of_one_is_greedy(fused):
    model = small_seq2seq(fused=fused)
    src = source(batch=6)
    greedy = model.greedy_decode(src, max_length=8)
    assert torch.equal(model.beam_search(src, beam_size=1, max_length=8), greedy)
    assert (greedy[:, 0] == model.bos_id).all()
    for row in greedy.tolist():  # padding only after an eos
        if model.eos_id in row:
            assert all(t == model.pad_id for t in row[row.index(model.eos_id) + 1 :])
        assert model.pad_id not in row[: row.index(model.eos_id) if model.eos_id in row else None]


def peaked_model(seed):
    """A random model with sharper output distributions (a scaled-up head), so that sequences end early."""
    model = small_seq2seq(seed=seed)
    with torch.no_grad():
        model.head.weight.mul_(4)
        model.head.bias[model.eos_id] += 1.0
    return model


def test_beam_search_is_exact_when_the_beam_holds_everything():
    """Targets of at most 3 tokens over {eos, 3, 4, 5, 6}: a beam of 5 + 25 + 125 never prunes, so it returns
    the most likely of all candidates, found here by enumeration."""
    for seed in range(3):
        model = peaked_model(seed)
        src = source(batch=3, seed=seed)
        best = model.beam_search(src, beam_size=155, max_length=3)
        candidates = [[1, *c] for n in (1, 2, 3) for c in itertools.product(range(3, TGT_VOCAB), repeat=n - 1)]
        candidates = [c + [2] for c in candidates] + [[1, *c] for c in itertools.product(range(3, TGT_VOCAB), repeat=3)]
        candidates = torch.tensor([c + [0] * (5 - len(c)) for c in candidates])
        for i in range(3):
            scores = model.sequence_log_prob(src[i : i + 1].expand(len(candidates), -1), candidates)
            found = model.sequence_log_prob(src[i : i + 1], best[i : i + 1])
            assert found.item() == pytest.approx(scores.max().item(), abs=1e-5)


def test_beam_search_finds_targets_at_least_as_likely_as_greedy():
    better = 0
    for seed in range(4):
        model = peaked_model(seed)
        src = source(batch=8, seed=seed)
        greedy = model.sequence_log_prob(src, model.greedy_decode(src, max_length=6))
        beam = model.sequence_log_prob(src, model.beam_search(src, beam_size=4, max_length=6))
        assert (beam >= greedy - 1e-5).all()
        better += int((beam > greedy + 1e-5).sum())
    assert better > 0  # and sometimes strictly more likely


def test_sequence_log_prob_sums_the_token_log_probs():
    model = small_seq2seq()
    src = source(batch=2)
    tgt = torch.tensor([[1, 3, 4, 2, 0], [1, 5, 2, 0, 0]])
    logits = model(src, tgt[:, :-1])
    logits[..., [model.pad_id, model.bos_id]] = -torch.inf  # never produced inside a sequence
    log_probs = F.log_softmax(logits, dim=-1)
    expected = [log_probs[0, 0, 3] + log_probs[0, 1, 4] + log_probs[0, 2, 2], log_probs[1, 0, 5] + log_probs[1, 1, 2]]
    torch.testing.assert_close(model.sequence_log_prob(src, tgt), torch.stack(expected))


def test_seq2seq_errors():
    model = small_seq2seq()
    src = source()
    with pytest.raises(ValueError, match=r"src: \(batch, time\) integer token ids, got torch.float32"):
        model.encode(src.float())
    with pytest.raises(ValueError, match=r"takes 1..10 tokens per sequence, got src of shape \(4, 11\)"):
        model.encode(tokens(4, 11, high=SRC_VOCAB))
    with pytest.raises(ValueError, match=r"tgt token ids must be in 0..6, got 0..8"):
        model(src, torch.tensor([[0, 8]]).expand(4, 2))
    with pytest.raises(ValueError, match="beam_size must be a positive int"):
        model.beam_search(src, beam_size=0)
    with pytest.raises(ValueError, match=r"max_length must be in 1..9"):
        model.greedy_decode(src, max_length=10)
