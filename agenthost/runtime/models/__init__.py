"""Language models an agent can use."""
