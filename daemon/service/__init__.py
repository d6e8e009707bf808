"""The long-running service: triggers, workers, HTTP, systemd."""
