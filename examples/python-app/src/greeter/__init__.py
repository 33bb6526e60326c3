"""Greets whoever it is told to."""
