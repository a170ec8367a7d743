"""Read-only GraphQL and REST API over the WhatsApp message log."""

__version__ = "0.1.0"
