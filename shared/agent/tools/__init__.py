"""Agent tools as plugins: one module per tool, each with its parameters model."""
