# What every sagefleet module's documentation shares: library/*.py, and so the
# sagefleet.fleet collection's modules, extend sagefleet.docs.module. The sagefleet
# Python package ships this collection (ansible_collections/ on sys.path, where
# ansible-doc looks), as the ansible package ships its own.


class ModuleDocFragment:
    # Read-only, nothing to diff; a module says otherwise in its own attributes.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Read-only.
  diff_mode:
    support: none
    description: Nothing to diff.
author:
  - sagefleet developers
"""

    # A module that drives a Windows host over its connection.
    WINDOWS = r"""
options: {}
attributes:
  platform:
    platforms: windows
"""

    # A module that runs on the bastion only.
    BASTION = r"""
options: {}
attributes:
  platform:
    platforms: posix
"""
