"""The foundation: the datasets, the learned codecs trained on them and the clean coding every other
study starts from (the rd_clean and rd_bd tables, the clean RD figure). One package, as every study.

`train` (training a learned codec: patches, CompressAI's loss and optimizers; the defense's
adversarial fine-tuning reuses it), `tables` (the clean RD table and BD-PSNR/BD-rate; pandas only),
`plots` (the clean RD figure). Its jobs are `advcompress.commands.foundation`; datasets
(`advcompress.data`, `download`) and real coding (`evaluate.code_image`) are shared by every study.
This file imports nothing, so the table jobs start without torch.
"""
