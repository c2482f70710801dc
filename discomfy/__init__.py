"""DisComfy: a Discord bot that puts a ComfyUI server in a Discord server's hands."""

__version__ = "0.1.0"
