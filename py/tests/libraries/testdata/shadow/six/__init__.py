"""A first-party module named as a pip package: refused as a library layer."""
