"""The HTTP/2 client."""
