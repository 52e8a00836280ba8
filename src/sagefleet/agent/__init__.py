"""The vendor's agent as data: its profile, its service, a profile learnt from an install."""
