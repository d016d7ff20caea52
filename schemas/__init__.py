"""Data contracts and validation schemas. Imports nothing from the rest of the project."""
