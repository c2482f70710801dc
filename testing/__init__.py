"""Loopback fakes of ComfyUI and Discord, and the bot kit: shared by tests/, bench/ and tools/."""
