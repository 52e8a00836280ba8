"""What sagefleet adds to Ansible: the base of its action plugins (docs/architecture.md)."""
