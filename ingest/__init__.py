"""Acquisition: turn files, Hugging Face datasets and news pages into raw lake rows."""
