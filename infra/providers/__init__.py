"""Pulumi dynamic providers for Ballast's control plane (Neon, Sentry) and their one shared HTTP helper.

Keep this package free of import-time side effects: Pulumi's dynamic-provider process unpickles the
providers by reference, which imports these modules.
"""
