"""The agent runner: definitions, context, tools, the model loop, budgets and records."""
