"""Text normalisation, tokenisation and image loading shared by indexing and querying."""
