"""Backdoors and compression: a classifier backdoor that survives JPEG/JPEG 2000/WebP through
feature-consistency training, and a learned encoder backdoored by a learned frequency trigger.

Modules: `triggers` (Gaussian noise, "TEST" logo, TrojanNN), `compression_resistant` (poisoning, training,
attack success rates), `dct` and `lic_trigger` (the adaptive frequency trigger and the encoder
fine-tuning). The classifiers (ResNet-18, AlexNet and VGG-16 layouts whose features before the head
are readable) are the shared stack in `advcompress.classifiers`.
"""
