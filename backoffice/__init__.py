"""What every back-office (Django admin) module of the project shares: the read-only base admin and the way
stored values are shown. It imports neither ``scoring`` nor ``simulations``: both build on it."""
