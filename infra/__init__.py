"""Ballast's Pulumi program: components, dynamic providers, policy pack. No import-time side effects."""
