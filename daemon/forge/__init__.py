"""Forges (DESIGN §7): where pull requests and issues live — ``github`` and ``local``."""
