"""Generated from protos/anpr/v1 by `python -m anpr.codegen`. Do not edit."""
