"""auth-service: registration, OAuth2 password login, JWT issuing and the JWKS."""
