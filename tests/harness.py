"""The mock-engine harness lives in tools/engine.py (the render command uses it too)."""

from tools.engine import MOCK_PASSWORD_PREFIX, ROOT, Registered, Run, run_program, stack_config

__all__ = ["MOCK_PASSWORD_PREFIX", "ROOT", "Registered", "Run", "run_program", "stack_config"]
