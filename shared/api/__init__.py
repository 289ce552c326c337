"""The read API: queries over the stores (queries), HTTP handlers and the web page live in ingest."""
