"""The Discord layer: the only package that imports discord.py. Core services are passed in, never imported back."""
