"""Backdoors and compression: a classifier backdoor that survives JPEG/JPEG 2000/WebP through
feature-consistency training, and a learned encoder backdoored by a learned frequency trigger.

Modules: `nets` (the small ResNet-18-style classifier whose penultimate features are readable),
`triggers` (Gaussian noise, "TEST" logo, TrojanNN), `compression_resistant` (poisoning, training,
attack success rates), `dct` and `lic_trigger` (the adaptive frequency trigger and the encoder
fine-tuning).
"""
