"""sfmed_trainer: the SF-Med trainer (pt, sft, rm ×N, dpo with online merging) and its HTTP server."""

__version__ = "0.1.0"
