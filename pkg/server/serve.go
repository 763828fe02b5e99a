package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// HTTPServer wraps the handler with the timeouts that keep slow or idle
// clients from holding connections (slowloris).
func (s *Server) HTTPServer(tlsCfg *tls.Config) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // exports extend it while they stream
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		TLSConfig:         tlsCfg,
	}
}

// Serve runs until ctx ends, then shuts down gracefully: in-flight requests
// finish (up to 30 s), new ones are refused.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	stopNotify, err := s.StartNotifications(ctx)
	if err != nil {
		return err
	}
	defer stopNotify()
	hs := s.HTTPServer(tlsCfg)
	pctx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() { s.purgeLoop(pctx); close(purged) }()
	defer func() { stopPurge(); <-purged }()
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// StartNotifications opens the job queue and runs the notice scheduler, the
// webhook dispatcher and the workers (Serve does it; tests that use Handler
// alone call it). The returned function stops them. Without
// Config.Notifications it does nothing.
func (s *Server) StartNotifications(ctx context.Context) (func(), error) {
	if s.ntErr != nil {
		return nil, s.ntErr
	}
	if s.nt == nil {
		return func() {}, nil
	}
	return s.nt.start(ctx)
}
