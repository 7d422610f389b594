"""Configs shipped with orlvlmf (the repository's configs/ folder)."""
