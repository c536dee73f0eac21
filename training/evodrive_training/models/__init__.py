"""Qwen2.5-VL presets, the tiny tokenizer, low-level forward helpers and the perception head."""
