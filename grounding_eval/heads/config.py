"""The settings of the two heads both kinds fit (`heads/contrastive.py`, `heads/procrustes.py`): a section
of a probe task file, and what the generative kind's split-half judge trains with (its defaults)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from grounding_eval.tasks.config import Float, Section
from grounding_eval.validation import Valid


class ProbeConfig(Section):
    """The linear probe that maps text and perception embeddings into a shared space."""

    projection_dim: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 128
    """size of the shared space; 128 is small enough that the probe cannot memorise a few hundred concepts"""
    temperature: Annotated[Float, Field(gt=0), Valid("a number > 0")] = 0.1
    """softmax temperature of the contrastive loss; 0.1 is the usual CLIP-style value for unit vectors"""
    learn_temperature: bool = False
    """learn the temperature too; off so runs differ only in the projection weights"""
    optimizer: Annotated[Literal["adam", "adamw", "sgd"], Valid("one of: adam, adamw, sgd")] = "adam"
    """optimiser; adam converges on this small convex-ish problem without tuning"""
    learning_rate: Annotated[Float, Field(gt=0), Valid("a number > 0")] = 1e-2
    """step size; 1e-2 with 20 steps: a short schedule of large steps generalised better than 200 steps at
    1e-3, which memorised the training concepts (tasks/_audio_probe_base.yaml has the numbers)"""
    weight_decay: Annotated[Float, Field(ge=0), Valid("a number >= 0")] = 0.0
    """L2 penalty; none by default because the low projection_dim already limits capacity"""
    epochs: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 20
    """full passes over the training pairs (= optimiser steps with full batches); see learning_rate"""
    batch_size: Annotated[int | None, Field(ge=1), Valid("null (full batch) or an integer >= 1")] = None
    """pairs per step; null = full batch, since the data fit in memory and full batch is deterministic"""
    val_fraction: Annotated[Float, Field(ge=0, lt=1), Valid("a number >= 0 and < 1")] = 0.0
    """part of the TRAIN concepts held out for early stopping; 0 = none, so no concept is wasted by default"""
    patience: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 20
    """epochs without validation improvement before stopping; 20 tolerates noise (used only if val_fraction > 0)"""
    standardize: bool = True
    """z-score each input feature with the fitting rows' mean and std; backbones differ by orders of
    magnitude in scale, and without it the learning rate would have to be tuned per backbone"""
    negatives: Annotated[Literal["all_train", "in_batch"], Valid("one of: all_train, in_batch")] = "all_train"
    """N(c), the classes each clip is contrasted with: "all_train" = every training class (the softmax over
    the whole training vocabulary, the closest reading of the paper's sum over c'); "in_batch" = only the
    classes present in the current batch (CLIP-style; differs only when batch_size is set)"""
    fit_on: Annotated[Literal["instances", "concept_means"], Valid("one of: instances, concept_means")] = "instances"
    """what stands for a concept while training: "instances" = every training instance (clip) is a term of
    the loss; "concept_means" = the mean of each training concept's instances is one term (the paper's sum
    over classes c read literally; training cost no longer grows with the clip count). Testing always
    scores each instance"""
    chunk_size: Annotated[int | None, Field(ge=1), Valid("null (all rows) or an integer >= 1")] = None
    """rows per forward/backward chunk of a FULL-batch step (memory only: the gradient is accumulated, so
    the numbers do not change beyond float rounding); null = all rows at once"""


class ProcrustesConfig(Section):
    """The closed-form baseline: an orthogonal map between class-mean text and perception embeddings."""

    reduce: Annotated[Literal["pca", "zero_pad"], Valid("one of: pca, zero_pad")] = "pca"
    """how both sides reach a common dimension before the orthogonal map: "pca" fits a PCA per side on the
    training classes; "zero_pad" pads the smaller side with zeros (keeps every direction, but an orthogonal
    map between spaces of very different size is then mostly unconstrained)"""
    dim: Annotated[int | None, Field(ge=1), Valid("null (automatic) or an integer >= 1")] = None
    """common dimension for "pca"; null = min(d_text, d_perception, n_train_classes - 1), the largest
    dimension the centred training class means can fill on both sides"""
