"""Compression as a defense for classifiers: classifiers, attacks, defenses, adaptive JPEG.

Reproduces the human-aligned compression defense study (JPEG and learned codecs in front of a
classifier, attacks with or without gradients through the defense, sequential compression) and
the saliency-guided adaptive JPEG defense (per-block quality from class activation maps).
"""
