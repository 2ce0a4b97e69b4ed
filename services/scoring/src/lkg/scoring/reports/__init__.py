"""Reports built on scoring's published figures (issue 16): the 月度通报 for the director's office meeting,
downloadable as JSON, Word (GB/T 9704 layout) and Excel through :mod:`lkg.common.documents`."""
