"""Slash-command cogs, loaded by DiscomfyBot.setup_hook in this order."""

EXTENSIONS: tuple[str, ...] = ("discomfy.bot.cogs.generate", "discomfy.bot.cogs.admin", "discomfy.bot.cogs.history")
