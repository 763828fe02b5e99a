package server

import (
	"context"
)

// extraRoutes registers the OAuth and JWT endpoints.
func (s *Server) extraRoutes() {}

// authOAuth checks an OAuth access token.
func (s *Server) authOAuth(ctx context.Context, tok string) (*Credential, *apiError) {
	return nil, invalidToken("unknown access token")
}

// authJWT checks an RS256 JWT.
func (s *Server) authJWT(ctx context.Context, tok string) (*Credential, *apiError) {
	return nil, invalidToken("unknown JWT")
}
