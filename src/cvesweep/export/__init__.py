"""Output formats for search results: table, JSON, CSV."""
