"""The agent runtime: an LLM port, its OpenAI-compatible adapter, tools and the loop.

step-agent wires these together; nothing here knows about Redis or the broker.
"""
