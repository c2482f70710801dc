"""Slash-command cogs, loaded by DiscomfyBot.setup_hook in this order."""

EXTENSIONS: tuple[str, ...] = ("discomfy.cogs.generate", "discomfy.cogs.admin", "discomfy.cogs.history")
