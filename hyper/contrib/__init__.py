"""Integrations with other libraries (the requests adapter, HTTPie).

Each integration imports its optional dependency itself, so importing this
package never requires requests or HTTPie.
"""
