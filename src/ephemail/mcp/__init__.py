"""MCP for AI agents: the tools and resources (`tools`, transport-independent) and the
server on the official MCP Python SDK (`server`: streamable HTTP at /mcp and stdio)."""
