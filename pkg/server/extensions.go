package server

// extraRoutes registers the OAuth and JWT endpoints.
func (s *Server) extraRoutes() {
	s.oauthRoutes()
	s.jwtRoutes()
}
