"""The roles and modules that declare variables (names used by the declarations)."""

AGENT = "sagefleet_agent"
PREFLIGHT = "sagefleet_preflight"
SETTINGS = "sagefleet_settings"
DIAGNOSE = "sagefleet_diagnose"
DISCOVER = "sagefleet_discover"
HOST_INFO = "sagefleet_host_info"
PF = "sagefleet_preflight"  # the module of the same name
