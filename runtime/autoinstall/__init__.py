"""A folder `boundcheck exec` puts first on its command's PYTHONPATH: its sitecustomize
module runs at the start-up of every Python process of that command, children included
(they inherit PYTHONPATH). A package only so that it ships with boundcheck."""

import os

FOLDER = os.path.dirname(os.path.abspath(__file__))
