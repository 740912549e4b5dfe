"""`boundcheck report`: the proven bounds as figures and tables (see command.py)."""
