"""Helpers for driving the switchboard binary: env, pytest-lsp sessions, raw LSP, text model."""
