"""Ballast's CrossGuard policy pack: the rules (``rules``), the pack's assembly (``pack``), and an evaluator
(``evaluate``) that runs the same rules over recorded resources exactly as Pulumi's analyzer does (used by the
offline ``python -m infra plan``). ``__main__`` only starts the analyzer server for ``--policy-pack``."""
