"""The trained maps between a text space and a perception space that more than one kind fits: the linear
contrastive head (contrastive.py), the closed-form Procrustes map (procrustes.py), the feature preparation
they share (features.py) and their settings (config.py). The probe kind's probe and baseline, and the
generative kind's split-half judge, are these heads.
"""
