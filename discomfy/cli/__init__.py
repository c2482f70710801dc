"""The terminal: `python -m discomfy run|analyze` and `python bot.py --check`, on the same services as the bot."""
