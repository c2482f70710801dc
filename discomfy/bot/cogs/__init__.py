"""Slash-command cogs: thin layers that parse options and hand the work to the presenter and the services."""
