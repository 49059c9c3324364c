"""REST API of the posts domain (API.md "Posts")."""
