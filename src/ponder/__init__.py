"""ponder: when does training on reasoning traces beat plain instruction tuning?

A controlled testbed for arXiv 2509.22193: one teacher answers every prompt twice (thinking off =
IFT, thinking on = reasoning), students are trained on mixes of the two, evaluated with rule scorers
and a judge panel, and every score is tied to its training and inference FLOPs.
"""

__version__ = "0.1.0"
