"""Pieces shared by the HTTP/1.1 and HTTP/2 implementations."""
