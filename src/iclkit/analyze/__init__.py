"""Looking inside models: Dai et al. (2023) "ICL as implicit fine-tuning" on any HF causal LM.

``hooks`` records attention quantities with forward hooks on the model's own modules, ``measures`` holds the pure
metric functions, ``finetune`` the key/value-only SGD baseline, ``dual_form`` the linear-attention identity. This
stage takes an ``nn.Module`` and token ids; it never imports the data, prompt or score stages
(``iclkit.analysis_pipeline`` wires them).
"""
