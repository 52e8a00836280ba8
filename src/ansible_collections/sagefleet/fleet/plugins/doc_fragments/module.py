# What every sagefleet module's documentation shares (library/*.py extend it):
# ansible-doc finds it here from the checkout (this folder is on sys.path) and in the
# built collection under plugins/doc_fragments/ (sagefleet.collection copies it).


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

    # A module that runs on the controller only.
    CONTROLLER = r"""
options: {}
attributes:
  platform:
    platforms: posix
"""
