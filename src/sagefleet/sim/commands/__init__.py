"""The command layer: what a simulated host does with the command lines it receives.

``dispatch`` parses a command line and runs it; ``registry`` holds the snippet
models (``*_models``) and ``semantics`` the rules of what Windows refuses
(``*_rules``), all listed once in ``catalog``. See docs/simulator.md, "Layers".
"""
