"""The function's third-party packages, as its build would install them.

`lock` resolves a function's requirements for its Python version and architecture with uv,
wheels only; `wheelstore` fetches the pinned wheels, checks their hashes and keeps them on
disk; `wheelfiles` reads a wheel without running anything from it. These are adapters:
the analysis core is given the files they produce, never the network.
"""
