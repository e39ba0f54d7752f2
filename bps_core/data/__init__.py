"""Data files shipped with the core package (the BPS condition priors CSV)."""
