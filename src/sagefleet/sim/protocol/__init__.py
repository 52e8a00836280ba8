"""The protocol layer: WS-Management shells, the HTTP(S) listeners, NTLM and encryption.

It knows no host: a listener gets a command runner and a credentials policy.
See docs/simulator.md, "Layers".
"""
