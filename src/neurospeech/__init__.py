"""Reproduce, audit and extend sEEG speech-production encoding and decoding.

The package reproduces Khanday et al. (Interspeech 2025) on the
SingleWordProductionDutch-iBIDS dataset (Verwoert et al. 2022), together with that
dataset's decoding baseline and a contrastive brain-to-speech decoder.
"""

import logging

__version__ = "0.1.0.dev0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
