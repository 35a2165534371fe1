"""Generators: a Hugging Face causal LM (through accelerate), a replay of saved generations, and the no-LM
template baseline every LM must beat. All return `n_samples` texts per prompt, in prompt order."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from grounding_eval import paths
from grounding_eval.atomic import atomic_write_json, atomic_write_text
from grounding_eval.devices import model_devices, pick_device, resolve_dtype, torch_dtype
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.base import Generator, ProgressCallback, Prompt
from grounding_eval.text.hf import DTYPES
from grounding_eval.text.fingerprints import checkpoint_identity
from grounding_eval.text.hub import resolve_model

# What the LM is told before each prompt (the user turn of a chat template, or the start of a plain prompt).
DEFAULT_SYSTEM = ("You write short Python programs that synthesise audio. Use only numpy and math. "
                  "Define a function generate() that returns a tuple (samples, sample_rate): samples a 1-D numpy "
                  "array of floats between -1 and 1. Answer with one ```python code block.")
# `worked_example: true` in the task's generator.args: one solved request shown before the real one (a
# one-shot prompt; for a base model, which has no chat turns to learn the format from). Its sound is none
# of the tiers' concepts, so it teaches the format, not an answer.
WORKED_EXAMPLE_REQUEST = "Write a Python program that plays a sine tone sweeping from 200 Hz to 800 Hz for 1.0 seconds."
WORKED_EXAMPLE_ANSWER = """```python
import numpy as np

def generate():
    sr = 16000
    t = np.arange(int(sr * 1.0)) / sr
    freq = 200.0 + 600.0 * t / 1.0
    phase = 2 * np.pi * np.cumsum(freq) / sr
    envelope = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (1.0 - t) / 0.05)
    return 0.5 * np.sin(phase) * envelope, sr
```"""
WORKED_EXAMPLE = f"{WORKED_EXAMPLE_REQUEST}\n\n{WORKED_EXAMPLE_ANSWER}\n\n"


class TemplateGenerator(Generator):
    """The no-LM baseline: a fixed program filled from the prompt's fields.

    A prompt with a `frequency` (the notes tier) gets a decaying harmonic tone at that pitch and duration;
    with `speech` (the speech tier: `for_task` sets it when the task's prompt asks for a voice) every prompt
    gets a formant synthesiser saying the concept's text (SPEECH: letters read as crude sounds, a glottal
    pulse train through three vowel formants, band noise for consonants; numpy only, deterministic); any
    other prompt gets noise shaped by an envelope, seeded by its concept (content-free: what an LM must beat
    to show it knows anything about the sound).
    """

    name = "template"

    TONE = """```python
import numpy as np

def generate():
    sr = {sample_rate}
    t = np.arange(int(sr * {duration})) / sr
    f = {frequency}
    tone = sum(0.6 / k * np.sin(2 * np.pi * k * f * t) for k in range(1, 6) if k * f < sr / 2)
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-3.0 * t / {duration})
    return 0.5 * tone * envelope / np.max(np.abs(tone)), sr
```"""
    NOISE = """```python
import numpy as np

def generate():
    sr = {sample_rate}
    rng = np.random.default_rng({seed})
    t = np.arange(int(sr * {duration})) / sr
    noise = rng.standard_normal(t.size)
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-2.0 * t / {duration})
    return 0.3 * noise * envelope / np.max(np.abs(noise)), sr
```"""

    SPEECH = """```python
import numpy as np

WORD = {concept!r}


def segments(word):
    # Spelling to crude sounds: (kind, formants F1-F3 in Hz, seconds, noise band). Vowel formants: adult
    # averages of Peterson & Barney (1952); kinds: V vowel, N nasal, L liquid/glide, F unvoiced fricative,
    # Z voiced fricative, P unvoiced plosive, B voiced plosive, _ pause.
    vowel = dict(a=(730, 1090, 2440), e=(530, 1840, 2480), i=(270, 2290, 3010), o=(570, 840, 2410),
                 u=(300, 870, 2240), ae=(660, 1720, 2410), er=(490, 1350, 1690))
    cons = dict(m=("N", (250, 1100, 2500)), n=("N", (250, 1700, 2500)), l=("L", (360, 1300, 2600)),
                r=("L", (420, 1300, 1600)), w=("L", (300, 610, 2200)), j=("L", (270, 2290, 3010)),
                s=("F", "high"), z=("Z", "high"), f=("F", "wide"), v=("Z", "wide"), h=("F", "mid"),
                p=("P", "low"), t=("P", "high"), k=("P", "mid"), b=("B", "low"), d=("B", "high"), g=("B", "mid"))
    spell = [("igh", "ai"), ("sh", "S"), ("ch", "tS"), ("th", "f"), ("ph", "f"), ("ng", "N"), ("ck", "k"),
             ("qu", "kw"), ("ee", "i"), ("ea", "i"), ("ie", "i"), ("oo", "u"), ("oe", "u"), ("ou", "au"),
             ("ow", "au"), ("ai", "ei"), ("ay", "ei"), ("ey", "ei"), ("oa", "o"), ("ar", "a"), ("er", "R"),
             ("ir", "R"), ("ur", "R"), ("or", "o"), ("x", "ks"), ("c", "k"), ("q", "k"), ("y", "i")]
    w = "".join(ch for ch in word.lower() if ch.isalpha() or ch == " ")
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiou":
        w = w[:-1]  # a silent final e
    if w.startswith("y"):
        w = "j" + w[1:]
    sounds, pos = "", 0
    while pos < len(w):
        for a, b in spell:
            if w.startswith(a, pos):
                sounds += b
                pos += len(a)
                break
        else:
            if not (pos and w[pos] == w[pos - 1] and w[pos] not in "aeiou"):  # a doubled consonant is one sound
                sounds += w[pos]
            pos += 1
    out = []
    for ch in sounds:
        if ch in "aeiou":
            out.append(("V", vowel["ae" if ch == "a" and len(sounds) > 2 else ch], 0.13, None))
        elif ch == "R":
            out.append(("V", vowel["er"], 0.14, None))
        elif ch == "S":
            out.append(("F", None, 0.11, "mid"))
        elif ch == "N":
            out.append(("N", (250, 2000, 2600), 0.08, None))
        elif ch == " ":
            out.append(("_", None, 0.08, None))
        elif ch in cons:
            kind, what = cons[ch]
            if kind in "NL":
                out.append((kind, what, 0.07, None))
            elif kind in "FZ":
                out.append((kind, None, 0.10 if kind == "F" else 0.08, what))
            else:
                out.append((kind, None, 0.07, what))
    return out or [("V", vowel["a"], 0.2, None)]


def generate():
    sr = {sample_rate}
    n = int(round(sr * {duration}))
    rng = np.random.default_rng({seed})
    segs = segments(WORD)
    total = sum(s[2] for s in segs)
    scale = min(1.0, 0.85 * n / sr / total)  # a long word is spoken faster, never cut off
    start = int((n - total * scale * sr) / 2)
    f1, f2, f3 = np.full(n, 500.0), np.full(n, 1500.0), np.full(n, 2500.0)
    voice, noise, band = np.zeros(n), np.zeros(n), np.zeros((3, n))
    pos, last = start, (500, 1500, 2500)
    bands = dict(low=0, mid=1, high=2, wide=None)
    for kind, formants, seconds, where in segs:
        m = int(seconds * scale * sr)
        seg = slice(pos, pos + m)
        formants = formants or last
        f1[seg], f2[seg], f3[seg] = formants
        if kind == "V":
            voice[seg] = 1.0
        elif kind == "L":
            voice[seg] = 0.6
        elif kind == "N":
            voice[seg] = 0.35
        elif kind in "FZ":
            voice[seg] = 0.25 if kind == "Z" else 0.0
            noise[seg] = 0.35 if where != "wide" else 0.15
        elif kind in "PB":
            burst = slice(pos + int(0.7 * m), pos + m)
            voice[pos:pos + int(0.7 * m)] = 0.08 if kind == "B" else 0.0
            noise[burst] = 0.5
        if kind in "FZPB":
            if bands[where] is None:
                band[:, seg] = 1.0 / 3
            else:
                band[bands[where], seg] = 1.0
        last = formants if kind in "VL" else last
        pos += m
    # coarticulation: formants glide over 30 ms; amplitudes ramp over 8 ms (no clicks)
    def smooth(x, seconds):
        k = max(1, int(seconds * sr))
        padded = np.concatenate([np.full(k, x[0]), x, np.full(k, x[-1])])
        return np.convolve(padded, np.ones(k) / k, mode="same")[k:-k]
    f1, f2, f3 = smooth(f1, 0.03), smooth(f2, 0.03), smooth(f3, 0.03)
    voice, noise = smooth(voice, 0.008), smooth(noise, 0.008)
    # glottal source: f0 falls from 130 to 95 Hz over the word (declination), a little jitter
    t = np.arange(n) / sr
    f0 = 130.0 - 35.0 * np.clip((np.arange(n) - start) / max(1, pos - start), 0, 1)
    f0 = f0 * (1 + 0.01 * smooth(rng.standard_normal(n), 0.02))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros(n)
    # cascade of three resonators (bandwidths 60, 90, 150 Hz) evaluated at each harmonic: additive synthesis
    for h in range(1, int(5000 / 95)):
        fh = h * f0
        gain = np.ones(n)
        for f, bw in ((f1, 60.0), (f2, 90.0), (f3, 150.0)):
            gain *= f * f / np.sqrt((f * f - fh * fh) ** 2 + (bw * fh) ** 2)
        out += np.where(fh < 5000, gain / h, 0.0) * np.sin(h * phase)
    out *= voice / max(1e-9, np.max(np.abs(out * voice)))
    # frication: white noise split into three bands (FFT masks), mixed per segment
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    for i, (lo, hi) in enumerate(((500, 2500), (2000, 5000), (4000, 7500))):
        part = np.fft.irfft(np.where((freqs >= lo) & (freqs < hi), spec, 0), n)
        out += noise * band[i] * part / max(1e-9, np.max(np.abs(part)))
    return 0.8 * out / max(1e-9, np.max(np.abs(out))), sr
```"""

    def __init__(self, model: str = "template", sample_rate: int = 16000, duration: float = 1.0, speech: bool = False):
        self.sample_rate = int(sample_rate)
        self.duration = float(duration)
        self.speech = bool(speech)

    @classmethod
    def for_task(cls, cfg: Any) -> TemplateGenerator:
        """The baseline of a generative task: its rate and duration, and the speech program when its prompt
        asks for a voice (the speech tier's "synthesises a human voice saying: {concept}")."""
        return cls(sample_rate=cfg.sample_rate, duration=cfg.prompts.duration,
                   speech="voice" in cfg.prompts.template.lower())

    def identity(self) -> dict[str, Any]:
        # the speech program only where it is used: the other tiers' identity (and golden results) stay as they were
        speech = {"speech": self.SPEECH} if self.speech else {}
        return {"generator": self.name, "tone": self.TONE, "noise": self.NOISE, **speech, "sample_rate": self.sample_rate,
                "duration": self.duration}

    def generate(self, prompts: Sequence[Prompt], n_samples: int, seed: int,
                 progress: ProgressCallback | None = None) -> list[list[str]]:
        out = []
        for p in prompts:
            fields = {"sample_rate": self.sample_rate, "duration": self.duration, **p.fields}
            texts = []
            for i in range(n_samples):
                s = int.from_bytes(hashlib.sha256(f"{p.concept}\0{seed}\0{i}".encode()).digest()[:4], "little")
                if self.speech:
                    texts.append(self.SPEECH.format(**fields, seed=s))
                elif "frequency" in fields:
                    texts.append(self.TONE.format(**fields))
                else:
                    texts.append(self.NOISE.format(**fields, seed=s))
            out.append(texts)
            if progress:
                progress(1)
        return out


class ReplayGenerator(Generator):
    """Saved generations from a JSONL file (one `{"prompt_id", "sample", "text"}` per line), e.g. written by
    `--generation-only` on a GPU machine, or by another harness. Identity is the file's hash."""

    name = "replay"

    def __init__(self, model: str):
        self.path = Path(model).expanduser()
        if not self.path.is_file():
            raise GroundingEvalError(f"--load-generations {model}: no such file; give a JSONL file written by --generation-only")
        raw = self.path.read_bytes()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.rows: dict[tuple[str, int], str] = {}
        self.header: dict[str, Any] = {}
        for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise GroundingEvalError(f"{self.path}:{n}: not a JSON line") from None
            if not isinstance(row, dict):
                raise GroundingEvalError(f"{self.path}:{n}: a line must be a JSON object")
            if "config" in row and "prompt_id" not in row:  # the header --generation-only writes
                self.header = row
                continue
            missing = [k for k in ("prompt_id", "sample", "text") if k not in row]
            if missing or not isinstance(row["text"], str) or not isinstance(row["sample"], int):
                raise GroundingEvalError(f"{self.path}:{n}: field {(missing or ['text/sample'])[0]!r} missing or of the "
                                         f"wrong type; each line needs prompt_id (string), sample (integer), text (string)")
            self.rows[(str(row["prompt_id"]), row["sample"])] = row["text"]

    def identity(self) -> dict[str, Any]:
        return {"generator": self.name, "file": str(self.path), "sha256": self.sha256,
                "source": self.header.get("generator", {})}

    def generate(self, prompts: Sequence[Prompt], n_samples: int, seed: int,
                 progress: ProgressCallback | None = None) -> list[list[str]]:
        out = []
        for p in prompts:
            texts = []
            for i in range(n_samples):
                if (p.id, i) not in self.rows:
                    raise GroundingEvalError(f"{self.path}: no generation for prompt_id {p.id!r} sample {i}; "
                                             f"it holds {len(self.rows)} (prompt, sample) pairs; regenerate with "
                                             f"--generation-only for this task and n_samples")
                texts.append(self.rows[(p.id, i)])
            out.append(texts)
            if progress:
                progress(1)
        return out


class HFCausalLMGenerator(Generator):
    """Any Hugging Face causal LM through transformers/accelerate: chat template when the tokenizer has
    one, left-padded batches, sampling settings from the task (all in the identity and so the cache key).

    `batch_size` (sequences per forward) defaults to 32: decoding a small model on a CPU is bound by reading
    its weights, so 32 sequences per step give ~2x the tokens/s of 8 (SmolLM2-135M, one thread: 56 vs 29
    tokens per CPU-second). Batches are seeded from their first prompt, so it changes which samples are drawn:
    it is in the identity, the cache key and the results.
    """

    name = "hf"

    def __init__(self, model: str, device: str | None = None, device_map: str | None = None, dtype: str = "auto",
                 batch_size: int = 32, max_new_tokens: int = 384, do_sample: bool = True, temperature: float = 0.7,
                 top_p: float = 0.95, top_k: int = 0, system_prompt: str = DEFAULT_SYSTEM, revision: str | None = None,
                 use_chat_template: bool = True, trust_remote_code: bool = False, worked_example: bool = False):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if dtype not in DTYPES:
            raise GroundingEvalError(f"generator.args.dtype={dtype}: valid: {', '.join(DTYPES)}")
        for key, value, ok in (("batch_size", batch_size, batch_size >= 1), ("max_new_tokens", max_new_tokens, max_new_tokens >= 1),
                               ("temperature", temperature, temperature > 0), ("top_p", top_p, 0 < top_p <= 1),
                               ("top_k", top_k, top_k >= 0)):
            if not ok:
                raise GroundingEvalError(f"generator.args.{key}={value}: out of range")
        hf_logging.disable_progress_bar()
        self.requested = model
        self.resolved = resolve_model(model, revision)
        self.device_map = device_map
        self.device = pick_device(device)
        self.batch = int(batch_size)
        self.settings = {"max_new_tokens": int(max_new_tokens), "do_sample": bool(do_sample),
                         "temperature": float(temperature), "top_p": float(top_p), "top_k": int(top_k)}
        self.system_prompt = system_prompt
        self.worked_example = bool(worked_example)
        path = self.resolved.path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            chosen = resolve_dtype(dtype, model_devices(self.device, device_map), "generator.args.dtype")
            kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch_dtype(chosen)}
            if device_map:
                kwargs["device_map"] = device_map
            self.model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise GroundingEvalError(f"--model {model}: cannot load it as a causal LM ({str(exc).strip().splitlines()[0][:160]})") from None
        if not device_map:
            self.model.to(self.device)
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # generation continues from the right edge of every row
        self.chat = bool(use_chat_template and getattr(self.tokenizer, "chat_template", None))
        self.dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")

    def identity(self) -> dict[str, Any]:
        return {"generator": self.name, **checkpoint_identity(self.requested, self.resolved),
                "dtype": self.dtype, "chat_template": self.chat,
                "system_prompt": self.system_prompt, "batch_size": self.batch, **self.settings,
                # only when on, so the cache keys of runs without it stay what they were
                **({"worked_example": WORKED_EXAMPLE} if self.worked_example else {})}

    def render(self, prompt: Prompt) -> str:
        """The exact text the model reads."""
        example = getattr(self, "worked_example", False)
        if self.chat:
            shot = ([{"role": "user", "content": WORKED_EXAMPLE_REQUEST}, {"role": "assistant", "content": WORKED_EXAMPLE_ANSWER}]
                    if example else [])
            messages = [{"role": "system", "content": self.system_prompt}, *shot, {"role": "user", "content": prompt.text}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # No chat template (a base model such as google/gemma-3-270m): the plain prompt, which opens the code
        # fence so that the continuation is the program.
        return f"{self.system_prompt}\n\n{WORKED_EXAMPLE if example else ''}{prompt.text}\n\n```python\n"

    def generate(self, prompts: Sequence[Prompt], n_samples: int, seed: int,
                 progress: ProgressCallback | None = None) -> list[list[str]]:
        import torch  # lazy: as in __init__

        out: list[list[str]] = []
        per_batch = max(1, self.batch // n_samples)
        for start in range(0, len(prompts), per_batch):
            chunk = prompts[start:start + per_batch]
            texts = [self.render(p) for p in chunk]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not self.chat)
            # Only what a causal LM reads (a BERT-style tokenizer adds token_type_ids, which generate refuses).
            enc = {k: v.to(self.model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            # Seeded per batch from its first prompt: the same prompts, batch size and seed give the same texts.
            torch.manual_seed(int.from_bytes(hashlib.sha256(f"{seed}\0{chunk[0].id}".encode()).digest()[:4], "little"))
            kwargs = dict(self.settings)
            if not kwargs["do_sample"]:  # greedy: sampling settings would only draw warnings
                kwargs = {"max_new_tokens": kwargs["max_new_tokens"], "do_sample": False}
            # Greedy decoding gives every sample the same text: decode once, repeat it.
            n_return = n_samples if kwargs["do_sample"] else 1
            with torch.inference_mode():
                gen = self.model.generate(**enc, num_return_sequences=n_return, pad_token_id=self.tokenizer.pad_token_id,
                                          **kwargs)
            new = gen[:, enc["input_ids"].shape[1]:]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            if n_return == 1 and n_samples > 1:
                decoded = [d for d in decoded for _ in range(n_samples)]
            if not self.chat:  # the plain prompt opened the code fence itself
                decoded = ["```python\n" + d for d in decoded]
            for i in range(len(chunk)):
                out.append(decoded[i * n_samples:(i + 1) * n_samples])
            if progress:
                progress(len(chunk))
        return out


def generation_key(generator: Generator, prompt: Prompt, n_samples: int, seed: int) -> str:
    """Cache key of one prompt's generations: everything that changes its texts."""
    blob = json.dumps({"g": generator.cache_key(), "id": prompt.id, "text": prompt.text, "fields": prompt.fields,
                       "n": n_samples, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class GenerationCache:
    """One JSON file per (generator, prompt, n_samples, seed), written atomically: a rerun regenerates nothing
    that finished, a killed run resumes where it stopped."""

    def __init__(self, root: str | os.PathLike[str] | None, enabled: bool = True):
        self.root = Path(root) if root else paths.cache_home() / "generations"
        self.enabled = enabled

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[str] | None:
        if not self.enabled:
            return None
        try:
            data = json.loads(self._file(key).read_text(encoding="utf-8"))
            return list(data["texts"]) if isinstance(data, dict) and isinstance(data.get("texts"), list) else None
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, texts: list[str], meta: dict[str, Any]) -> None:
        if self.enabled:
            atomic_write_json(self._file(key), {"texts": texts, **meta})

    def generate(self, generator: Generator, prompts: Sequence[Prompt], n_samples: int, seed: int,
                 progress: ProgressCallback | None = None, batch: int | None = None) -> tuple[list[list[str]], dict[str, int]]:
        """Cached texts for every prompt; missing ones generated in chunks of `batch` prompts (default: as many as
        fill one of the generator's batches, so a chunk is one forward batch) and stored after each chunk."""
        if batch is None:
            batch = max(1, getattr(generator, "batch", 8 * n_samples) // n_samples)
        keys = [generation_key(generator, p, n_samples, seed) for p in prompts]
        found = {i: t for i, k in enumerate(keys) if (t := self.get(k)) is not None and len(t) == n_samples}
        if progress and found:
            progress(len(found))
        todo = [i for i in range(len(prompts)) if i not in found]
        for s in range(0, len(todo), batch):
            idx = todo[s:s + batch]
            texts = generator.generate([prompts[i] for i in idx], n_samples, seed, progress)
            for i, t in zip(idx, texts):
                found[i] = t
                self.put(keys[i], t, {"prompt_id": prompts[i].id, "generator": generator.identity()})
        return [found[i] for i in range(len(prompts))], {"cached": len(prompts) - len(todo), "generated": len(todo)}


def write_generations(path: str | os.PathLike[str], prompts: Sequence[Prompt], texts: list[list[str]],
                      header: dict[str, Any]) -> Path:
    """The JSONL `--generation-only` writes and `--load-generations` reads: a header line with the resolved
    config, then one line per (prompt, sample)."""
    lines = [json.dumps(header, sort_keys=True, default=str)]
    for p, ts in zip(prompts, texts):
        for i, t in enumerate(ts):
            lines.append(json.dumps({"prompt_id": p.id, "concept": p.concept, "sample": i, "prompt": p.text, "text": t}))
    return atomic_write_text(path, "\n".join(lines) + "\n")
