"""No Django models: the search index is vendor-specific (PostgreSQL ``tsvector`` tables or
SQLite FTS5) and written only by database triggers, so its store installs it
(:mod:`search.stores`). This module exists so that Django sends this app ``post_migrate``,
which re-installs SQLite triggers a table rebuild dropped."""
