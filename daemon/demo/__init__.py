"""``speckitd demo``: a sample repository, a scripted model server, the real daemon."""
