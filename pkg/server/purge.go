package server

import (
	"context"
	"time"
)

// Purge deletes expired device codes, authorization codes, OAuth tokens and
// stored rotation answers (store.Purge). Serve runs it every PurgeInterval.
func (s *Server) Purge(ctx context.Context) error {
	p, err := s.store.Purge(ctx, s.now())
	if err != nil {
		s.cfg.Logger.Warn("purge failed", "error", err)
		return err
	}
	if p.Total() > 0 {
		s.cfg.Logger.Info("purged expired rows", "device_codes", p.DeviceCodes, "auth_codes", p.AuthCodes, "oauth_tokens", p.OAuthTokens, "idempotency", p.Idempotency)
	}
	return nil
}

func (s *Server) purgeLoop(ctx context.Context) {
	every := s.cfg.PurgeInterval
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Purge(ctx)
		}
	}
}
