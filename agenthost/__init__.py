"""ElizaOS agent host: dials the control plane and runs agents."""
