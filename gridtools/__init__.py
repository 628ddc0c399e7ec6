"""gridtools: population-balanced management grids and the city operations that run on them."""

__version__ = "0.1.0"
