"""Built-in perception encoders: those that need no dependency beyond the core. Each is imported when
used (`lazy`), so listing them stays cheap."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy


def _hf_audio(family: str):
    return lazy("grounding_eval.audio.hf_audio", "HFAudioBackbone", family=family)


@hookimpl
def register_perception_encoders(register):
    register("logmel", lazy("grounding_eval.audio.logmel", "LogMelBackbone"),
             description="weight-free log-mel statistics (mean and std per band): a baseline", modality="audio")
    register("hear:", lazy("grounding_eval.audio.hear", "HearBackbone"), description="any HEAR 2021 module: hear:MODULE (load_model, get_scene_embeddings), e.g. hear:hear21passt.base", modality="audio")
    register("ast", _hf_audio("ast"), description="Audio Spectrogram Transformer, AudioSet-supervised (transformers), 16 kHz; embedding=pooled|logits", modality="audio")
    register("clap", _hf_audio("clap"), description="CLAP audio tower (transformers ClapModel), 48 kHz; embedding=projected|pooled", modality="audio")
    register("wav2vec2", _hf_audio("wav2vec2"), description="Wav2Vec2 hidden states pooled over time (transformers), 16 kHz; layer, pooling", modality="audio")
    register("hubert", _hf_audio("hubert"), description="HuBERT hidden states pooled over time (transformers), 16 kHz; layer, pooling", modality="audio")
    register("whisper", _hf_audio("whisper"), description="Whisper encoder hidden states pooled over the audio frames (transformers), 16 kHz", modality="audio")
