"""Channels: how contacts reach kefu. Each channel turns its traffic into conversations and messages."""
